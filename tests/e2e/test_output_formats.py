"""Output formats and word timestamps on the served stub host, on real speech.

Captions are parsed back with the SRT and WebVTT libraries clients use; word times must be
monotonic, inside their segment, and continuous across a job's windows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
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

BIN = Path(sys.executable).parent


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


# The command-line clients, as a user runs them: stdout is a pipe here, not a terminal.


def _cli(caller: Caller, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SCAIGRID_HOST=caller.server.base_url, SCAIGRID_API_KEY=key or caller.key)
    return subprocess.run([*args], env=env, capture_output=True, text=True, timeout=600, check=False)


def _conversation_at_48k(tmp: Path) -> Path:
    """The conversation as 48 kHz WAV: 2.9 MB, over this stack's 1 MiB inline limit (a job)."""
    return recordings.write_audio(
        recordings.read_pcm(recordings.conversation()), tmp / "call.wav", "wav", "pcm_s16le", 48000
    )


def test_transcribe_command_writes_srt_for_an_inline_file(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    clip = recordings.librivox("0930")
    run = _cli(caller, str(BIN / "scaiecho"), "transcribe", str(clip.wav), "-f", "srt", "--language", "en")
    assert run.returncode == 0, run.stderr
    subs = list(srt.parse(run.stdout))
    assert subs and wer(clip.text, " ".join(s.content for s in subs)) <= 0.2, run.stdout
    assert "queued" not in run.stderr


def test_transcribe_command_waits_for_a_job_and_writes_vtt(jobs: JobStack, tmp_path: Path) -> None:
    caller = caller_factory(jobs.server)()
    out = tmp_path / "call.vtt"
    cmd = [
        str(BIN / "scaiecho"),
        "transcribe",
        str(_conversation_at_48k(tmp_path)),
        "-f",
        "vtt",
        "-o",
        str(out),
    ]
    run = _cli(caller, *cmd, "--language", "en", "--poll-seconds", "0.5")
    assert run.returncode == 0, run.stderr
    assert "queued as job" in run.stderr
    assert "\r" not in run.stderr, "no progress bar when stderr is not a terminal"
    captions = list(webvtt.read(str(out)))
    spoken = " ".join(c.text.replace("\n", " ") for c in captions)
    assert wer(recordings.conversation_text(), spoken) <= 0.35, spoken
    assert captions[-1].end_in_seconds > 20


def test_transcribe_command_reports_the_api_error_code(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    clip = recordings.librivox("0930")
    bad_key = _cli(caller, str(BIN / "scaiecho"), "transcribe", str(clip.wav), key="sgk_not_a_key")
    bad_format = _cli(caller, str(BIN / "scaiecho"), "transcribe", str(clip.wav), "--backend", "C")
    assert bad_key.returncode == 1 and "UNAUTHORIZED" in bad_key.stderr and "(401)" in bad_key.stderr
    assert bad_format.returncode == 1 and "VALIDATION_ERROR" in bad_format.stderr, bad_format.stderr
    assert bad_key.stdout == bad_format.stdout == ""


def test_stream_command_writes_json_lines_of_a_file_sent_as_is(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    clip = recordings.librivox("0870")
    cmd = [str(BIN / "scaiecho-stream"), str(clip.wav), "--json", "--media-type", "audio/wav"]
    run = _cli(caller, *cmd, "--chunk-seconds", "2", "--language", "en")
    assert run.returncode == 0, run.stderr
    frames = [json.loads(line) for line in run.stdout.splitlines()]
    assert frames[0]["type"] == "ready" and frames[0]["media_type"] == "audio/wav"
    assert frames[-1]["type"] == "closed"
    finals = [f for f in frames if f["type"] == "delta" and f["is_final"]]
    # chunk_seconds reached the server: no final is longer than 2 s (cut mid-word at times,
    # hence the looser WER bound).
    assert len(finals) > 1 and all(f["end"] - f["start"] <= 2.05 for f in finals), finals
    assert wer(clip.text, " ".join(f["text"] for f in finals)) <= 0.4, finals


def test_stream_command_writes_plain_final_lines_into_a_pipe(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    clip = recordings.librivox("0930")
    run = _cli(caller, str(BIN / "scaiecho-stream"), str(clip.wav), "--fast", "--language", "en")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines and all(line.startswith("[") and "\x1b" not in line and "..." not in line for line in lines)
    assert wer(clip.text, " ".join(line.split("] ", 1)[1] for line in lines)) <= 0.2, lines


def test_stream_command_sends_prompt_and_hotwords_and_shows_a_refused_one(jobs: JobStack) -> None:
    # As on files (test_vocabulary_hints.py): a prompt in capitals on clip 0880 is copied.
    caller = caller_factory(jobs.server)()
    clip = recordings.librivox("0880")
    prompt = "HE WAS NOT AN ILL-DISPOSED YOUNG MAN. THE ILL-DISPOSED MAN."
    stream = [str(BIN / "scaiecho-stream"), str(clip.wav), "--fast", "--language", "en"]
    run = _cli(caller, *stream, "--prompt", prompt, "--hotwords", "ill-disposed")
    assert run.returncode == 0, run.stderr
    text = " ".join(line.split("] ", 1)[1] for line in run.stdout.splitlines())
    assert text.isupper() and "ILL-DISPOSED" in text.replace(" DISPOSED", "-DISPOSED"), run.stdout
    refused = _cli(caller, *stream, "--hotwords", "y" * 501)
    assert refused.returncode != 0 and "hotwords" in refused.stderr, (refused.stdout, refused.stderr)
