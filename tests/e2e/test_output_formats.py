"""Output formats and word timestamps on the served stub host, on real speech.

Captions are parsed back with the SRT and WebVTT libraries clients use; word times must be
monotonic, inside their segment, and continuous across a job's windows.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import srt
import webvtt

from tests.e2e.conftest import Caller, caller_factory, open_stack
from tests.support import recordings
from tests.support.stacks import JobStack
from tests.support.text import wer


def _post(caller: Caller, path: Path, **fields: Any) -> httpx.Response:
    return caller.transcribe(path, language_hint="en", **fields)


def _assert_words_fit(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    words = [w for s in segments for w in s["words"]]
    assert words, segments
    for segment in segments:
        for word in segment["words"]:
            assert segment["start"] - 0.05 <= word["start"] <= word["end"] <= segment["end"] + 0.05, (
                segment,
                word,
            )
            assert 0.0 <= word["probability"] <= 1.0
    starts = [w["start"] for w in words]
    assert starts == sorted(starts), "word times go back"
    return words


def test_default_json_is_todays_envelope_without_words(caller: Caller) -> None:
    data = _post(caller, recordings.librivox("0870").wav).json()["data"]
    assert data["status"] == "completed"
    assert all(set(s) == {"start", "end", "text"} for s in data["segments"])


def test_text_format_is_the_plain_transcript(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    resp = _post(caller, clip.wav, response_format="text")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    assert wer(clip.text, resp.text) <= 0.15, resp.text


def test_srt_parses_and_carries_the_spoken_words(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    resp = _post(caller, clip.wav, response_format="srt")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/x-subrip")
    subs = list(srt.parse(resp.text))
    assert subs
    assert all(len(line) <= 42 for s in subs for line in s.content.split("\n"))
    assert subs[-1].end.total_seconds() <= 7.1 + 0.5
    assert wer(clip.text, " ".join(s.content.replace("\n", " ") for s in subs)) <= 0.15


def test_vtt_parses_and_its_cues_are_in_order(caller: Caller) -> None:
    resp = _post(caller, recordings.conversation(), response_format="vtt")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/vtt")
    captions = list(webvtt.from_buffer(io.StringIO(resp.text)))
    assert len(captions) >= 3
    starts = [c.start_in_seconds for c in captions]
    assert starts == sorted(starts)
    assert "texas" in " ".join(c.text for c in captions).lower()


def test_verbose_json_has_openais_shape(caller: Caller) -> None:
    resp = _post(caller, recordings.librivox("0870").wav, response_format="verbose_json")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["task"] == "transcribe"
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(7.1, abs=0.05)
    assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))
    assert " ".join(s["text"] for s in body["segments"]) == body["text"]
    assert "words" not in body


def test_word_timestamps_fit_their_segments_and_spell_the_transcript(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    resp = _post(caller, clip.wav, timestamp_granularities="word")
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    words = _assert_words_fit(data["segments"])
    assert wer(data["transcript"], " ".join(w["word"] for w in words)) <= 0.05
    # "Dashwood" is spoken about a second in: its time must say so.
    dashwood = next(w for w in words if "dashwood" in w["word"].lower())
    assert 0.3 <= dashwood["start"] <= 2.5, dashwood


def test_word_granularity_in_verbose_json_lists_words_flat(caller: Caller) -> None:
    resp = _post(
        caller,
        recordings.librivox("0880").wav,
        response_format="verbose_json",
        timestamp_granularities="word",
    )
    body = resp.json()
    assert len(body["words"]) >= 5
    assert [w["start"] for w in body["words"]] == sorted(w["start"] for w in body["words"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("response_format", "docx"), ("timestamp_granularities", "letter")],
)
def test_unknown_format_or_granularity_is_a_validation_error(caller: Caller, field: str, value: str) -> None:
    resp = _post(caller, recordings.librivox("0870").wav, **{field: value})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == {
        **resp.json()["error"],
        "code": "VALIDATION_ERROR",
        "details": {"field": field},
    }


@pytest.fixture(scope="module")
def jobs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobStack]:
    with open_stack("embedded", request, tmp_path_factory.mktemp("formats")) as stack:
        yield stack


def _completed_job(caller: Caller, path: Path, **fields: Any) -> str:
    resp = _post(caller, path, **fields)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["data"]["job_id"]
    deadline = time.monotonic() + 600  # a minute of audio; slow on a machine shared by many
    while time.monotonic() < deadline:
        job = caller.job(job_id)
        if job["status"] not in {"queued", "running"}:
            assert job["status"] == "completed", job
            return job_id
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def test_job_renders_as_srt_vtt_and_text_once_completed(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    path, _ = recordings.long_speech(1)
    job_id = _completed_job(caller, path)
    with caller.client() as client:
        data = client.get(f"/transcribe/jobs/{job_id}").json()["data"]
        text = client.get(f"/transcribe/jobs/{job_id}", params={"format": "text"})
        subs = list(srt.parse(client.get(f"/transcribe/jobs/{job_id}", params={"format": "srt"}).text))
        vtt = client.get(f"/transcribe/jobs/{job_id}", params={"format": "vtt"})
        bad = client.get(f"/transcribe/jobs/{job_id}", params={"format": "pdf"})
    assert text.text.strip() == data["transcript"]
    assert " ".join(s.content.replace("\n", " ") for s in subs) == data["transcript"]
    assert subs[-1].end.total_seconds() > 40, "cues cover the whole file, not the first window"
    captions = list(webvtt.from_buffer(io.StringIO(vtt.text)))
    assert len(captions) == len(subs)
    assert bad.status_code == 400 and bad.json()["error"]["details"] == {"field": "format"}


def test_job_word_times_are_continuous_across_windows(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    path, _ = recordings.long_speech(1)
    job_id = _completed_job(caller, path, timestamp_granularities="word")
    data = caller.job(job_id)
    words = _assert_words_fit(data["segments"])
    # Windows are 20 s here: words past the first window carry file time, not window time.
    assert words[-1]["end"] > 45, words[-1]
    # Every segment of every window has its words, and each lies inside its segment (checked
    # above): a window's words shifted by less or more than its start would fall outside.
    assert all(segment["words"] for segment in data["segments"])
    assert {int(w["start"] // 20) for w in words} >= {0, 1, 2}, "some window has no words"


def test_a_job_not_yet_completed_cannot_be_rendered(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    path, _ = recordings.long_speech(1)
    resp = _post(caller, path)
    job_id = resp.json()["data"]["job_id"]
    with caller.client() as client:
        early = client.get(f"/transcribe/jobs/{job_id}", params={"format": "srt"})
        client.delete(f"/transcribe/jobs/{job_id}")
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "JOB_NOT_COMPLETED"
