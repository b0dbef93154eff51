"""A job with its windows decoded in small slices (SCAIECHO_JOB_SLICE_SECONDS=10 in 20 s
windows) still transcribes real speech right: the same bounds as the job tests, each word
inside its segment in file time, progress saved per window. Its own served stub host
(SQLite, the in-process node and worker)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Caller, caller_factory
from tests.e2e.test_jobs import assert_continuous, finished
from tests.support import recordings
from tests.support.servers import StubServer, stub_server
from tests.support.text import wer


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    workdir = tmp_path_factory.mktemp("slices")
    env = {
        "SCAIECHO_JOB_WINDOW_SECONDS": "20",
        "SCAIECHO_JOB_SLICE_SECONDS": "10",
        "SCAIECHO_INLINE_MAX_BYTES": str(1024 * 1024),
    }
    with stub_server(f"sqlite+aiosqlite:///{workdir / 'db.sqlite'}", workdir, env) as running:
        yield running


def test_a_job_in_ten_second_slices_transcribes_real_speech_right(host: StubServer) -> None:
    caller: Caller = caller_factory(host)()
    path, _ = recordings.long_speech(2)
    resp = caller.transcribe(path, language_hint="en", timestamp_granularities="word")
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["data"]["job_id"]
    progress: list[float] = []
    deadline = time.monotonic() + 300
    while not finished(job := caller.job(job_id)):
        assert time.monotonic() < deadline, job
        if job["status"] == "running":
            progress.append(job["progress"])
        time.sleep(0.2)
    assert job["status"] == "completed", job
    assert len(set(progress)) >= 2 and progress == sorted(progress), progress
    assert job["duration_seconds"] == pytest.approx(121.4, abs=0.2)
    # As in test_jobs.py: nothing lost or doubled (each round says "Dashwood" once), and the
    # WER bound that a lost or doubled 20 s window, or audio sent wrong, would break.
    text = job["transcript"]
    assert text.lower().count("dashwood") == 2, text
    assert wer(recordings.long_speech_text(2), text) <= 0.25, text
    segments = job["segments"]
    assert_continuous(segments, job["duration_seconds"])
    # Words shifted with their slice and window: inside their segment, in order, in file time.
    words = [w for s in segments for w in s["words"]]
    assert words
    for segment in segments:
        for word in segment["words"]:
            assert segment["start"] - 0.05 <= word["start"] <= word["end"] <= segment["end"] + 0.05
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[-1] > 100
