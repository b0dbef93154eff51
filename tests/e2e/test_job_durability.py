"""Jobs survive the API process: a restart (or a crash) never loses an accepted job."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import STACKS, caller_factory, open_stack
from tests.e2e.test_jobs import finished, poll, submit, usage_for
from tests.support import recordings
from tests.support.servers import stub_server
from tests.support.text import wer


@pytest.mark.parametrize("name", STACKS)
def test_api_crash_loses_no_job(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    path, _ = recordings.long_speech(2)
    with open_stack(name, request, tmp_path / "a") as stack:
        stack.stop_workers()  # with saq, nothing consumes: jobs wait in the queue
        caller = caller_factory(stack.server)()
        job_id = submit(caller, path)["job_id"]
        if not stack.uses_workers:
            # Embedded: the API process is the worker; crash it mid-job.
            poll(caller, job_id, lambda s: s["processed_seconds"] > 0)
        os.kill(stack.server.process.pid, signal.SIGKILL)
        stack.server.process.wait(timeout=10)
        # A new API process on the same database, queue and blob store.
        with stub_server(
            stack.database_url,
            tmp_path / "b",
            {
                k: v
                for k, v in stack.env.items()
                if k.startswith(("SCAIECHO_", "SCAIGRID_Q", "SCAIGRID_S3", "SCAIGRID_DATA"))
            },
        ) as restarted:
            caller.server = restarted
            if stack.uses_workers:
                assert caller.job(job_id)["status"] == "queued"
                stack.start_worker()
            final = poll(caller, job_id, finished, timeout=240)[-1]
    assert final["status"] == "completed", final
    # Both rounds there once each (the read "Dashwood" is the sturdy marker), and the whole
    # file heard about as well as an uninterrupted job hears it (see test_jobs).
    assert final["transcript"].lower().count("dashwood") == 2
    assert wer(recordings.long_speech_text(2), final["transcript"]) <= 0.25, final["transcript"]
    assert len(usage_for(stack, job_id)) == 1
