"""A live session's task is cancelled when its client leaves, often while it holds budget or
meters usage. The host's transaction must then end whole (committed), and never leave its
write lock behind: on SQLite every writer in every process waits behind it.

The real stub accounting on a real SQLite file; a second connection holds the write lock so
that the cancel lands while the hold waits in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from host_stub.accounting import StubAccounting
from host_stub.db import StubDatabase
from host_stub.identity import create_user_with_key
from host_stub.migrate import upgrade
from scaiecho_module.metering import AUDIO_SECONDS, hold_audio_budget, record_audio_usage
from tests.support.db import hold_rows, usage_rows


def _write_lock_is_free(path: Path) -> bool:
    probe = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


@pytest.mark.parametrize("operation", ["hold", "usage"])
def test_a_cancel_mid_transaction_waits_for_its_commit_and_frees_the_lock(
    tmp_path: Path, operation: str
) -> None:
    path = tmp_path / "scaigrid.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)

    async def main() -> str:
        db = StubDatabase(url)
        try:
            accounting = StubAccounting(db.session_factory)
            tenant = str((await create_user_with_key(db.session_factory, "t", "a@b", [])).tenant_id)
            for attempt in range(6):
                blocker = sqlite3.connect(path, timeout=5, isolation_level=None)
                blocker.execute("BEGIN IMMEDIATE")  # another writer: the hold must wait
                reference = f"scaiecho:stream:{operation}-{attempt}"
                work = (
                    hold_audio_budget(accounting, tenant, 5.0, reference, ttl_seconds=60)
                    if operation == "hold"
                    else record_audio_usage(
                        accounting, tenant, None, 5.0, reference, mode="stream", backend="a"
                    )
                )
                task = asyncio.create_task(work)
                await asyncio.sleep(0.05 + 0.02 * attempt)  # inside SQLite's busy wait by now
                task.cancel()
                await asyncio.sleep(0.01 * attempt)
                task.cancel()  # a second cancel (a task group's, a gather's) changes nothing
                blocker.execute("ROLLBACK")
                blocker.close()
                with pytest.raises(asyncio.CancelledError):
                    await task  # the caller still learns it was cancelled
                assert _write_lock_is_free(path), attempt
            return tenant
        finally:
            await db.close()

    tenant = asyncio.run(main())
    # Every cancelled call's transaction committed whole: nothing half-done, nothing lost.
    if operation == "hold":
        assert len(hold_rows(url, tenant)) == 6
    else:
        rows = usage_rows(url, tenant)
        assert [r.unit for r in rows] == [AUDIO_SECONDS.name] * 6
        assert sum(r.quantity for r in rows) == 30.0
