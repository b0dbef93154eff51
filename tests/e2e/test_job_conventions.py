"""Job conventions: deleting a finished transcript (tombstone + audit), ?status=, Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Caller, caller_factory, open_stack
from tests.support import recordings
from tests.support.db import audit_rows
from tests.support.stacks import JobStack


@pytest.fixture(scope="module")
def jobs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobStack]:
    with open_stack("embedded", request, tmp_path_factory.mktemp("job-conventions")) as stack:
        yield stack


def _short_job_audio(clip: str) -> Path:
    """A few seconds of real speech in a WAV too big to answer inline (48 kHz float64 > 1 MiB)."""
    target = recordings.CACHE / "formats" / f"{clip}-48k-f64.wav"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp.wav")
        recordings.write_audio(
            recordings.read_pcm(recordings.librivox(clip).wav), tmp, "wav", "pcm_f64le", 48000
        )
        tmp.rename(target)
    assert target.stat().st_size > 1024 * 1024  # the stack's inline threshold
    return target


def _wait(caller: Caller, job_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = caller.job(job_id)
        if job["status"] not in {"queued", "running"}:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def test_202_says_when_to_poll(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    path = _short_job_audio("0870")
    resp = caller.transcribe(path, language_hint="en")
    assert resp.status_code == 202
    assert 2 <= int(resp.headers["retry-after"]) <= 30
    _wait(caller, resp.json()["data"]["job_id"])


def test_deleting_a_finished_job_leaves_a_tombstone_with_its_audit_event(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    other = caller_factory(jobs.server)()
    path = _short_job_audio("0870")
    job_id = caller.transcribe(path, language_hint="en").json()["data"]["job_id"]
    done = _wait(caller, job_id)
    assert done["status"] == "completed" and done["transcript"]
    with other.client() as client:
        assert client.delete(f"/transcribe/jobs/{job_id}").status_code == 404  # another tenant's
    with caller.client() as client:
        resp = client.delete(f"/transcribe/jobs/{job_id}")
        again = client.delete(f"/transcribe/jobs/{job_id}")
        srt = client.get(f"/transcribe/jobs/{job_id}", params={"format": "srt"})
    assert resp.status_code == 200, resp.text
    tombstone = resp.json()["data"]
    assert tombstone["status"] == "deleted"
    assert tombstone["transcript"] is None and tombstone["segments"] is None and tombstone["filename"] == ""
    assert again.status_code == 200 and again.json()["data"]["status"] == "deleted"
    assert srt.status_code == 409 and srt.json()["error"]["code"] == "JOB_NOT_COMPLETED"
    assert caller.job(job_id)["status"] == "deleted"
    deletes = [a for a in audit_rows(jobs.database_url, caller.tenant_id) if a.action.endswith(".delete")]
    assert [(a.action, a.target) for a in deletes] == [("scaiecho.transcription_job.delete", job_id)]


def test_jobs_list_filters_by_status(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    path = _short_job_audio("0870")
    first = caller.transcribe(path, language_hint="en").json()["data"]["job_id"]
    _wait(caller, first)
    second = caller.transcribe(path, language_hint="en").json()["data"]["job_id"]
    with caller.client() as client:
        # Queued or running: cancelled; already completed (a fast machine): deleted. Either way
        # the second job is no longer "completed".
        client.delete(f"/transcribe/jobs/{second}")
        completed = client.get("/transcribe/jobs", params={"status": "completed"}).json()["data"]
        failed = client.get("/transcribe/jobs", params={"status": "failed"}).json()["data"]
        both = client.get(
            "/transcribe/jobs", params={"status": "completed,cancelled,running,queued,deleted"}
        ).json()["data"]
        bad = client.get("/transcribe/jobs", params={"status": "done"})
    _wait(caller, second)
    assert [j["job_id"] for j in completed] == [first]
    assert failed == []
    assert {j["job_id"] for j in both} == {first, second}
    assert bad.status_code == 400 and bad.json()["error"]["details"] == {"field": "status"}


def test_a_jobs_hotwords_reach_whisper(jobs: JobStack) -> None:
    caller = caller_factory(jobs.server)()
    path = _short_job_audio("0880")
    job_id = caller.transcribe(path, language_hint="en", hotwords="ill-disposed").json()["data"]["job_id"]
    done = _wait(caller, job_id)
    assert done["status"] == "completed", done
    assert "ill-disposed" in done["transcript"].lower().replace(" disposed", "-disposed")
