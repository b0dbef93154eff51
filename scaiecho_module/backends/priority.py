"""A priority semaphore: when a node is busy, the most latency-sensitive waiter goes next.

Order (lower first): a live final, a sync HTTP request, a live partial, a queued job window.
A live final waits for at most the one inference already running; ``Interactive`` keeps that
one short while interactive work is about (a job then decodes in short slices).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
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


# How long interactive work counts as near after its last sign: a live session's next
# utterance usually follows within a pause, a client's next request within its round trip.
INTERACTIVE_HOLD = 5.0


class Interactive:
    """When a backend last had interactive work: a live utterance in progress, a live or sync
    decode. While it is near, a job decodes in short slices (``jobs/slices.py``), so what comes
    next waits for a short slice of job work, not a long one (issue 19: a live final waited for
    a whole 30 s slice).

    A live utterance counts from its first frames: a final comes at its end, and the slice
    in flight then began while the speaker talked."""

    def __init__(self, hold: float = INTERACTIVE_HOLD, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold = hold
        self._clock = clock
        self._last = -hold

    def touch(self) -> None:
        self._last = self._clock()

    def near(self) -> bool:
        return self._clock() - self._last < self._hold
