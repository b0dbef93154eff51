"""Enrollment and erasure on the production stack (PostgreSQL, Redis, S3) and the embedded
default (SQLite, local blobs, in-memory registry): after erasure nothing of the recordings
is left in the blob store, nothing of the speaker in Redis, and the database keeps only the
tombstone, the consent record and the erasure audit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import caller_factory, open_stack
from tests.e2e.test_speakers import enrolled
from tests.support import speakers
from tests.support.stacks import JobStack, job_stack, stack_env

pytestmark = pytest.mark.both_databases


@pytest.fixture(scope="module", params=["embedded", "postgresql+redis+s3"])
def speaker_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JobStack]:
    workdir = tmp_path_factory.mktemp("speaker-stack")
    if request.param == "embedded":
        with open_stack("embedded", request, workdir) as running:
            yield running
        return
    pg, s3, redis = (request.getfixturevalue(name) for name in ("pg_url", "s3_url", "redis_url"))
    database_url, extra = stack_env("redis+s3", pg, redis, s3, workdir)
    extra["SCAIGRID_REDIS_URL"] = redis  # the host's Redis: the warm registry lives there
    with job_stack("redis+s3", database_url, extra, workdir) as running:
        yield running


def _seed_warm(url: str, tenant_id: str, speaker_id: str, node_id: str) -> None:
    async def add() -> None:
        from redis.asyncio import Redis

        client: Any = Redis.from_url(url)
        try:
            await client.sadd(f"scaiecho:warm:{tenant_id}:{speaker_id}", node_id)
        finally:
            await client.aclose()

    asyncio.run(add())


def _redis_keys(url: str, pattern: str) -> list[bytes]:
    async def scan() -> list[bytes]:
        from redis.asyncio import Redis

        client: Any = Redis.from_url(url)
        try:
            return [key async for key in client.scan_iter(match=pattern)]
        finally:
            await client.aclose()

    return asyncio.run(scan())


def test_enrollment_and_erasure_leave_nothing_behind_on_each_stack(speaker_stack: JobStack) -> None:
    caller = caller_factory(speaker_stack.server)()
    data = enrolled(caller)
    speaker_id = data["id"]
    keys = [f"scaiecho/speakers/{caller.tenant_id}/{speaker_id}/{name}" for name in ("reference", "consent")]
    assert all(speaker_stack.blob_exists(key) for key in keys)
    (profile,) = speakers.speaker_rows(speaker_stack.database_url, caller.tenant_id)["profiles"]
    assert profile.reference_blob_key == keys[0]

    redis_url = speaker_stack.env.get("SCAIGRID_REDIS_URL")
    if redis_url:
        # A node that held the speaker once and is gone now: the registry in Redis remembers it.
        _seed_warm(redis_url, caller.tenant_id, speaker_id, "departed-node")
    with caller.client() as client:
        state = client.get(f"/speakers/{speaker_id}/warm").json()["data"]
        erased = client.delete(f"/speakers/{speaker_id}").json()["data"]
    # The in-process node runs the speaker engine: enrollment warmed it, erasure evicts it.
    if redis_url:
        assert state["warm_node_ids"] == ["departed-node", "in-process"]
        assert state["stale_node_ids"] == ["departed-node"]
        assert erased["error_summary"] == {"departed-node": "offline; evicted when it returns"}
        assert _redis_keys(redis_url, "scaiecho:warm:*") == []
    else:
        assert state["warm_node_ids"] == ["in-process"] and state["stale_node_ids"] == []
        assert erased["error_summary"] == {}
    assert erased["blob_bytes_deleted"] == profile.reference_bytes + profile.consent_bytes
    assert not any(speaker_stack.blob_exists(key) for key in keys)
    rows = speakers.speaker_rows(speaker_stack.database_url, caller.tenant_id)
    (tombstone,) = rows["profiles"]
    assert tombstone.erased_at is not None
    assert (tombstone.reference_blob_key, tombstone.consent_blob_key) == (None, None)
    assert (tombstone.reference_bytes, tombstone.consent_bytes) == (0, 0)
    assert len(rows["consents"]) == len(rows["erasures"]) == 1
    uuid.UUID(erased["audit_id"])
