"""A live session's meter: the budget checked slice by slice, the usage settled exactly once.

Usage is the audio the recogniser processed, nothing else: audio dropped on overflow or left
unprocessed when a client leaves is not charged. One ledger row per session, written when
the session ends however it ends, so the row, the ``closed`` frame and the close audit
carry the same number. While the session runs, each new slice is checked against what the
tenant has left minus what its other live sessions in this process have used but not yet
settled, so concurrent sessions cannot overspend by more than a slice each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.host_contract import Accounting, Principal
from scaiecho_module.metering import record_audio_usage, record_diarized_usage, require_audio_budget

logger = logging.getLogger("scaiecho.live")

# Seconds this tenant's other live sessions have processed and not yet settled.
InFlight = Callable[[], float]


class LiveMeter:
    def __init__(
        self,
        accounting: Accounting,
        principal: Principal,
        session_id: str,
        slice_seconds: float,
        in_flight: InFlight = lambda: 0.0,
    ) -> None:
        self._accounting = accounting
        self._principal = principal
        self._reference = f"scaiecho:stream:{session_id}"
        self._slice = int(slice_seconds * SAMPLE_RATE)
        self._in_flight = in_flight
        self._checked = self._slice  # samples the budget covers (the open checked one slice)
        self.processed = 0
        self.diarized = 0  # samples the labeller embedded on a speaker node (diarize only)
        self.settled = False

    @property
    def seconds(self) -> float:
        return round(self.processed / SAMPLE_RATE, 3)

    async def check(self) -> None:
        """Before the next slice: ``BUDGET_EXHAUSTED`` if the tenant cannot pay for it."""
        if self.processed < self._checked:
            return
        self._checked = self.processed + self._slice
        quantity = self._checked / SAMPLE_RATE + self._in_flight()
        await require_audio_budget(self._accounting, self._principal.tenant_id, quantity)

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
