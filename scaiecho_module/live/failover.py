"""Failover mid-session: the backend failed, go on on another one if the resolver allows it.

What the failed backend had not yet made final is replayed to the new recogniser, so no
speech is lost and the client does not reconnect.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scaiecho_module import metrics
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.base import LiveRecognizer
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.live.replay import ReplayBuffer

logger = logging.getLogger("scaiecho.live")

# Given the backend that failed, the backend to go on with and its recogniser, or None.
Reopen = Callable[[str], Awaitable[tuple[str, LiveRecognizer] | None]]


@dataclass(frozen=True, slots=True)
class Switched:
    backend_used: str
    recognizer: LiveRecognizer
    offset: int  # session sample where the new recogniser's time zero lies
    replay: AudioArray

    @property
    def replayed_seconds(self) -> float:
        return round(len(self.replay) / SAMPLE_RATE, 3)


class Failover:
    def __init__(self, reopen: Reopen) -> None:
        self._reopen = reopen

    async def switch(
        self, error: ScaiEchoError, failed: str, recognizer: LiveRecognizer, replay: ReplayBuffer
    ) -> Switched:
        """The next backend, or ``error`` raised again where none may take over."""
        if error.kind is not BACKEND_UNAVAILABLE:
            raise error
        reopened = await self._reopen(failed)
        if reopened is None:
            raise error
        backend_used, new = reopened
        with contextlib.suppress(Exception):
            await recognizer.close()
        metrics.LIVE_SESSIONS.labels(failed).dec()
        metrics.LIVE_SESSIONS.labels(backend_used).inc()
        logger.warning("live session: backend %s failed, continuing on %s", failed, backend_used)
        return Switched(backend_used, new, replay.start, replay.audio())
