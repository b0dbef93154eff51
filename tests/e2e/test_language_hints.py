"""Language hints are checked against the model that serves them; no hint can stall the engine."""

from __future__ import annotations

import time

import pytest

from scaiecho_module.config import ScaiEchoSettings, SttModelSettings
from scaiecho_module.runtime import load_engine
from tests.e2e.conftest import Caller
from tests.support import recordings


@pytest.mark.parametrize("hint", ["de", "yue"])
def test_english_only_model_refuses_another_language_hint_with_a_clear_error(
    caller: Caller, hint: str
) -> None:
    resp = caller.transcribe(recordings.librivox("0870").wav, language_hint=hint)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == {"field": "language_hint"}
    assert "English-only" in error["message"]


def test_base_model_knows_german_but_has_no_cantonese_token_and_never_stalls_on_it() -> None:
    engine = load_engine(ScaiEchoSettings(stt=SttModelSettings(name="base", beam_size=1, cpu_threads=2)))
    assert {"en", "de", "fr"} <= engine.languages
    assert "yue" not in engine.languages  # faster-whisper lists it; base has no such token
    audio = recordings.read_pcm(recordings.librivox("0870").wav)[: 2 * 16000].astype("float32") / 32768
    started = time.monotonic()
    engine.transcribe(audio, "yue")  # a caller past the service check gets detection, not 188 s
    assert time.monotonic() - started < 30
