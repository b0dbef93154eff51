"""prompt and hotwords reach Whisper, on real speech; out-of-bounds hints are refused.

LibriVox clip 0880 says "he was not an ill-disposed young man"; tiny.en alone hears
"old-sposed". The hotword fixes the word, and a prompt in capitals makes Whisper copy its style,
which only happens when the prompt is decoded as Whisper's initial prompt.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Caller
from tests.support import recordings


def test_hotwords_steer_whisper_to_the_spoken_word(caller: Caller) -> None:
    resp = caller.transcribe(recordings.librivox("0880").wav, language_hint="en", hotwords="ill-disposed")
    assert resp.status_code == 200, resp.text
    assert "ill-disposed" in resp.json()["data"]["transcript"].lower().replace(" disposed", "-disposed")


def test_prompt_is_whispers_initial_prompt(caller: Caller) -> None:
    prompt = "HE WAS NOT AN ILL-DISPOSED YOUNG MAN. THE ILL-DISPOSED MAN."
    resp = caller.transcribe(recordings.librivox("0880").wav, language_hint="en", prompt=prompt)
    assert resp.status_code == 200, resp.text
    transcript = resp.json()["data"]["transcript"]
    assert transcript.isupper(), transcript  # the prompt's style, copied


@pytest.mark.parametrize(
    ("field", "value"),
    [("prompt", "x" * 1001), ("hotwords", "y" * 501), ("prompt", "a\x00b"), ("hotwords", "a\x1bb")],
)
def test_hints_out_of_bounds_are_refused(caller: Caller, field: str, value: str) -> None:
    resp = caller.transcribe(recordings.librivox("0880").wav, **{field: value})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"
    assert resp.json()["error"]["details"] == {"field": field}
