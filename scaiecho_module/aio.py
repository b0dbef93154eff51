"""asyncio helpers every layer may use."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def to_completion(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile; then re-raise that.

    For one short database transaction (a budget hold, a usage row, an audit row) run by a
    task that may be cancelled, such as a live session whose client left. A cancel delivered
    mid-transaction terminates its connection while the statement still runs on the
    driver's thread; on SQLite that write lock is every other writer's, in every process.
    The caller's cancel waits for the commit or rollback instead (bounded by the busy timeout).
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = cancelled or not task.done()
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
