"""prompt and hotwords on a live session's open frame reach every decode, on real speech.

As for files (test_vocabulary_hints.py): LibriVox clip 0880 says "he was not an ill-disposed
young man", which tiny.en alone hears as "old-sposed"; the hotword fixes the word, and a
prompt in capitals makes Whisper copy its style, which only happens when the prompt is
decoded as Whisper's initial prompt. Out-of-bounds or mistyped hints close 4400.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import Caller
from tests.support.ws import StreamResult, collect, open_socket, speech_samples, stream_pcm

PROMPT = "HE WAS NOT AN ILL-DISPOSED YOUNG MAN. THE ILL-DISPOSED MAN."


def _open(**hints: Any) -> dict[str, Any]:
    return {"type": "open", "language_hint": "en", "media_type": "audio/pcm", **hints}


def test_live_hotwords_steer_whisper_to_the_spoken_word(caller: Caller) -> None:
    samples, _ = speech_samples("0880")
    open_frame = _open(hotwords="ill-disposed")
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=False, open_frame=open_frame)
    assert result.close_code == 1000, result.frames[-3:]
    assert "ill-disposed" in result.text.lower().replace(" disposed", "-disposed"), result.text


def test_live_prompt_is_whispers_initial_prompt_for_partials_and_finals(caller: Caller) -> None:
    # Real time, so partials are decoded while the sentences are spoken; both kinds of
    # decode get the prompt, so both copy its capitals. The sentence twice: two finals, each
    # decoded with the prompt (tiny.en copies the style of a prompt that matches the speech).
    samples, _ = speech_samples("0880", "0880", gap_seconds=1.5)
    open_frame = _open(prompt=PROMPT)
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=True, open_frame=open_frame)
    assert result.close_code == 1000, result.frames[-3:]
    assert len(result.finals) == 2, result.finals
    assert all(f["text"].isupper() for f in result.finals), result.finals
    assert result.partials, "partials should arrive while speech is streamed in real time"
    assert all(p["text"].isupper() for p in result.partials), result.partials


def test_without_a_prompt_the_same_session_is_not_in_capitals(caller: Caller) -> None:
    # The control for the test above: the capitals come from the prompt, not the audio.
    samples, _ = speech_samples("0880")
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=False, open_frame=_open())
    assert result.close_code == 1000, result.frames[-3:]
    assert result.text and not result.text.isupper(), result.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt", "x" * 1001), ("hotwords", "y" * 501), ("prompt", "a\x00b"), ("hotwords", "a\x1bb"),
        ("prompt", 42), ("hotwords", ["ill-disposed"]), ("prompt", True), ("hotwords", {"w": 1}),
    ],
)  # fmt: skip
def test_hints_out_of_bounds_or_not_strings_close_4400_naming_the_field(
    caller: Caller, field: str, value: Any
) -> None:
    result = StreamResult()
    with open_socket(caller.server.api, caller.key) as ws:
        ws.send(json.dumps(_open(**{field: value})))
        with contextlib.suppress(ConnectionClosed):
            ws.send(b"\x00\x00" * 1600)  # audio after a refused open is never decoded
        collect(ws, result, [time.monotonic()])
    assert result.close_code == 4400, result.frames
    errors = result.of("error")
    assert [(e["code"], e["details"]) for e in errors] == [("VALIDATION_ERROR", {"field": field})]
    assert not result.of("ready")
