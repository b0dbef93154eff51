"""A priority semaphore: when a node is busy, the most latency-sensitive waiter goes next.

Order (lower first): a live final, a sync HTTP request, a live partial, a queued job window.
A live final waits for at most the one inference already running.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum


class Priority(IntEnum):
    LIVE_FINAL = 0
    SYNC = 1
    LIVE_PARTIAL = 2
    JOB = 3


class PrioritySlots:
    def __init__(self, slots: int = 1) -> None:
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def acquire(self, priority: Priority) -> AsyncIterator[None]:
        if self._free and not self._waiters:
            self._free -= 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (int(priority), next(self._order), waiter)
            heapq.heappush(self._waiters, entry)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # we were handed the slot as we were cancelled: pass it on
                else:
                    self._waiters.remove(entry)
                    heapq.heapify(self._waiters)
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next waiter
                return
        self._free += 1
