"""A priority semaphore: when a node is busy, the most latency-sensitive waiter goes next.

Order (lower first): a live final, a sync HTTP request, a live partial, a queued job window.
A live final waits for at most the one inference already running; ``Interactive`` keeps that
one short while interactive work is about (a job then decodes in short slices).

Within a priority, waiters go oldest first, and their age can be given (``Urgency.since``):
a live final's speaker labels, asked for once its text is back, are dated from when its
speech ended and so go before the finals of speech that ended later. In arrival order, four
lockstep sessions' labels each waited behind the other three sessions' text: a diarized
final's p50 was 1.7-1.9x an undiarized one's (docs/benchmarks.md). An ``Urgency`` can also
rise while its work waits: a session's speaker work done early, as the speech comes, waits
at ``SYNC`` and becomes ``LIVE_FINAL`` work once a final waits for it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from enum import IntEnum


class Priority(IntEnum):
    LIVE_FINAL = 0
    SYNC = 1
    LIVE_PARTIAL = 2
    JOB = 3


class Urgency:
    """A priority that can change while its work waits in a node's queue, and an age to order
    it by (``time.monotonic()``; ``None``: from when it was queued). One per live diarizing
    session: its early speaker work waits at ``base``; while ``urgent`` (a final waits for it)
    it is ``LIVE_FINAL`` work dated from that final's end."""

    def __init__(self, base: Priority = Priority.SYNC) -> None:
        self._base = base
        self.priority = base
        self.since: float | None = None
        self._urgent = 0

    @contextmanager
    def urgent(self, since: float | None) -> Iterator[None]:
        self._urgent += 1
        self.priority = Priority.LIVE_FINAL
        if since is not None:
            self.since = since if self.since is None else min(self.since, since)
        try:
            yield
        finally:
            self._urgent -= 1
            if not self._urgent:
                self.priority, self.since = self._base, None


Rank = Priority | Urgency


class _Waiter:
    __slots__ = ("future", "order", "queued", "rank")

    def __init__(self, rank: Rank, queued: float, order: int, future: asyncio.Future[None]) -> None:
        self.rank, self.queued, self.order, self.future = rank, queued, order, future

    def key(self) -> tuple[int, float, int]:
        if isinstance(self.rank, Urgency):
            since = self.rank.since
            return int(self.rank.priority), self.queued if since is None else since, self.order
        return int(self.rank), self.queued, self.order


class PrioritySlots:
    def __init__(self, slots: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self._free = slots
        # A list, not a heap: an ``Urgency`` moves while it waits. A node's waiters are few.
        self._waiters: list[_Waiter] = []
        self._order = itertools.count()
        self._clock = clock

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def acquire(self, priority: Rank) -> AsyncIterator[None]:
        if self._free and not self._waiters:
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiter = _Waiter(priority, self._clock(), next(self._order), future)
            self._waiters.append(waiter)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # we were handed the slot as we were cancelled: pass it on
                else:
                    self._waiters.remove(waiter)
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = min(self._waiters, key=_Waiter.key)
            self._waiters.remove(waiter)
            if not waiter.future.done():
                waiter.future.set_result(None)  # the slot passes straight to the next waiter
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
