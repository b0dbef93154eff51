"""Audio nothing will ever read is removed: half-written uploads and blobs no job row names."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import Caller
from tests.support import recordings
from tests.support.stacks import JobStack


def _eventually(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError("not swept in time")


async def _s3(stack: JobStack, work: str, key: str) -> object:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3",
        endpoint_url=stack.env["SCAIGRID_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        bucket = stack.env["SCAIGRID_S3_BUCKET"]
        if work == "orphan":
            await client.put_object(Bucket=bucket, Key=key, Body=b"RIFF" + bytes(1000))
        elif work == "partial":
            await client.create_multipart_upload(Bucket=bucket, Key=key)
        elif work == "uploads":
            listed = await client.list_multipart_uploads(Bucket=bucket)
            return [u["Key"] for u in listed.get("Uploads", [])]
    return None


@pytest.mark.parametrize("stack", ["embedded", "redis+s3"], indirect=True)
def test_orphaned_job_audio_and_partial_uploads_are_swept(stack: JobStack, job_caller: Caller) -> None:
    orphan = f"scaiecho/jobs/{job_caller.tenant_id}/{uuid.uuid4()}"
    partial = f"scaiecho/jobs/{job_caller.tenant_id}/{uuid.uuid4()}"
    if "SCAIGRID_S3_BUCKET" in stack.env:
        asyncio.run(_s3(stack, "orphan", orphan))
        asyncio.run(_s3(stack, "partial", partial))
        _eventually(lambda: not stack.blob_exists(orphan))
        _eventually(lambda: partial not in asyncio.run(_s3(stack, "uploads", partial)))  # type: ignore[operator]
    else:
        blobs = Path(stack.env["SCAIGRID_DATA_DIR"]) / "blobs"
        hour_ago = time.time() - 3600
        for key, suffix in ((orphan, ""), (partial, ".part")):
            path = blobs / (key + suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"RIFF" + bytes(1000))  # what kill -9 mid-copy leaves behind
            os.utime(path, (hour_ago, hour_ago))
        _eventually(lambda: not (blobs / orphan).exists() and not (blobs / (partial + ".part")).exists())
    # Audio of a job that has a row is never an orphan, however old.
    path, _ = recordings.long_speech(1)
    resp = job_caller.transcribe(path)
    assert resp.status_code == 202, resp.text
    job = resp.json()["data"]
    time.sleep(17)  # past the minimum age (15 s); the job may have completed (and freed it) or still run
    # The blob first, then the job: a job that completes between the two reads has freed its
    # audio itself, which the order below tells apart from a sweep of a live job's audio.
    held = stack.blob_exists(f"scaiecho/jobs/{job_caller.tenant_id}/{job['job_id']}")
    final = job_caller.job(job["job_id"])
    if not held:
        assert final["status"] == "completed", final
    else:
        assert final["status"] in {"queued", "running", "completed"}, final
