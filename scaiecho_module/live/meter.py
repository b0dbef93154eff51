"""A live session's meter: the budget held slice by slice, the usage settled exactly once.

Usage is the audio the recogniser processed, nothing else: audio dropped on overflow or left
unprocessed when a client leaves is not charged. One ledger row per session, written when
the session ends however it ends, so the row, the ``closed`` frame and the close audit
carry the same number.

The budget is held, not just checked: the open reserves one slice with the host (a hold,
like an inline request's), and before the recogniser takes audio past what is held, the
hold grows to cover it plus the next slice. Holds see each other across sessions and
processes, so N concurrent sessions cannot spend more than the budget; the one that cannot
grow its hold ends with ``BUDGET_EXHAUSTED`` (close 4402). The usage row settles the hold
(same reference); a session that processed nothing releases it.
"""

from __future__ import annotations

import logging

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.host_contract import Accounting, Principal
from scaiecho_module.metering import (
    hold_audio_budget,
    record_audio_usage,
    record_diarized_usage,
    release_audio_hold,
)

logger = logging.getLogger("scaiecho.live")

# Each growth renews the hold's expiry; past it, a crashed process's hold lapses.
HOLD_TTL_SECONDS = 3600.0


class LiveMeter:
    def __init__(
        self, accounting: Accounting, principal: Principal, session_id: str, slice_seconds: float
    ) -> None:
        self._accounting = accounting
        self._principal = principal
        self._reference = f"scaiecho:stream:{session_id}"
        self._slice = int(slice_seconds * SAMPLE_RATE)
        self.held = 0  # samples the host holds for this session
        self.processed = 0
        self.diarized = 0  # samples the labeller embedded on a speaker node (diarize only)
        self.settled = False

    @property
    def seconds(self) -> float:
        return round(self.processed / SAMPLE_RATE, 3)

    @property
    def held_seconds(self) -> float:
        return round(self.held / SAMPLE_RATE, 3)

    async def reserve(self) -> None:
        """At open: hold the first slice (``BUDGET_EXHAUSTED`` if it does not fit)."""
        await self._hold(self._slice)

    async def check(self, samples: int) -> None:
        """Before the recogniser takes ``samples`` more: grow the hold if they pass it."""
        if self.processed + samples <= self.held:
            return
        await self._hold(self.processed + max(samples, self._slice))

    async def release(self) -> None:
        """The session never started: nothing is charged, the hold is dropped."""
        if self.settled:
            return  # the session's own end has settled it
        self.settled = True
        if self.held:
            await release_audio_hold(self._accounting, self._reference)

    async def _hold(self, samples: int) -> None:
        await hold_audio_budget(
            self._accounting, self._principal.tenant_id, samples / SAMPLE_RATE, self._reference,
            ttl_seconds=HOLD_TTL_SECONDS,
        )  # fmt: skip
        self.held = samples

    @property
    def diarized_seconds(self) -> float:
        return round(self.diarized / SAMPLE_RATE, 3)

    def add(self, samples: int) -> None:
        self.processed += samples

    def add_diarized(self, samples: int) -> None:
        self.diarized += samples

    async def settle(self, backend: str) -> None:
        """Record the session's usage; the second call is a no-op. Never raises: the session's
        end (its audit, its frame) must not be lost to an accounting fault, which is logged."""
        if self.settled:
            return
        self.settled = True
        if not self.processed:
            if self.held:
                await release_audio_hold(self._accounting, self._reference)
            return
        try:
            await record_audio_usage(
                self._accounting, self._principal.tenant_id, self._principal.user_id,
                self.seconds, self._reference, mode="stream", backend=backend,
            )  # fmt: skip
        except Exception:
            logger.exception("live session %s: recording its usage failed", self._reference)
        if not self.diarized:
            return  # diarize not asked, or skipped (Backend B, no speaker node): nothing extra
        try:
            await record_diarized_usage(
                self._accounting, self._principal.tenant_id, self._principal.user_id,
                self.diarized_seconds, self._reference, mode="stream",
            )  # fmt: skip
        except Exception:
            logger.exception("live session %s: recording its diarized usage failed", self._reference)
