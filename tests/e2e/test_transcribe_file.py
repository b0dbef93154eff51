"""Transcribing a short file over the REST API, as the quickstart does it."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.e2e.conftest import Caller
from tests.support import recordings
from tests.support.text import wer


def test_librivox_speech_is_transcribed_accurately(caller: Caller) -> None:
    references, hypotheses = [], []
    for clip in recordings.all_librivox():
        resp = caller.transcribe(clip.wav, language_hint="en", backend_preference="any")
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert data["backend_used"] == "A"
        assert data["language"] == "en"
        assert data["status"] == "completed"
        references.append(clip.text)
        hypotheses.append(data["transcript"])
    # Corpus word error rate over five read sentences (tiny.en scores about 0.05 here).
    assert wer(" ".join(references), " ".join(hypotheses)) <= 0.15, hypotheses


def test_response_carries_segments_with_times_and_duration(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    data = caller.transcribe(clip.wav, language_hint="en").json()["data"]
    assert data["duration_seconds"] == pytest.approx(7.1, abs=0.05)
    segments = data["segments"]
    assert segments, data
    assert all(0 <= s["start"] < s["end"] <= data["duration_seconds"] + 0.5 for s in segments)
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert " ".join(s["text"] for s in segments) == data["transcript"]


def test_two_person_conversation_is_transcribed(caller: Caller) -> None:
    data = caller.transcribe(recordings.conversation(), language_hint="en").json()["data"]
    text = data["transcript"].lower()
    for phrase in ("new jersey", "texas", "chicago"):
        assert phrase in text, text


@pytest.mark.parametrize("fmt", sorted(recordings.FORMATS))
def test_every_supported_container_decodes_to_the_same_words(caller: Caller, fmt: str) -> None:
    clip = recordings.librivox("0870")
    resp = caller.transcribe(recordings.speech_as(fmt), language_hint="en")
    assert resp.status_code == 200, resp.text
    assert wer(clip.text, resp.json()["data"]["transcript"]) <= 0.2


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_audio_without_speech_gives_an_empty_transcript(caller: Caller, kind: str) -> None:
    resp = caller.transcribe(recordings.synthetic(kind))
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["transcript"] == ""
    assert data["segments"] == []
    assert data["duration_seconds"] == pytest.approx(8.0, abs=0.01)


def test_language_hint_and_preference_are_optional(caller: Caller) -> None:
    resp = caller.transcribe(recordings.librivox("0930").wav)
    assert resp.status_code == 200, resp.text
    assert "amiable himself" in resp.json()["data"]["transcript"].lower()


def test_other_requests_are_served_while_a_transcription_runs(caller: Caller) -> None:
    finished: dict[str, float] = {}

    def long_transcription() -> None:
        caller.transcribe(recordings.conversation())
        finished["transcribe"] = time.monotonic()

    worker = threading.Thread(target=long_transcription)
    worker.start()
    time.sleep(0.3)  # let the upload land and inference start
    with httpx.Client(base_url=caller.server.base_url) as client:
        assert client.get("/healthz").status_code == 200
    answered = time.monotonic()
    worker.join()
    assert answered < finished["transcribe"]
