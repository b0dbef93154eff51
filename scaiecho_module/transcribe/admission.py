"""Admission control for inline work: a bounded number of transcriptions queued or running.

Without a cap, 20 concurrent inline 44 s files took a median 364 s (8 s alone): every request
waits behind every other, and all of them time out together. Past the cap a caller is told at
once to come back (429 for its tenant's share, 503 for the whole process), with Retry-After.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from scaiecho_module import metrics
from scaiecho_module.config import AdmissionLimits
from scaiecho_module.errors import SERVER_BUSY, TOO_MANY_REQUESTS, ScaiEchoError


class InlineAdmission:
    """Counts in this process; the event loop is single-threaded, so no lock is needed."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self._tenants: Counter[str] = Counter()
        self._total = 0

    @property
    def in_flight(self) -> int:
        return self._total

    @contextlib.contextmanager
    def slot(self, tenant_id: str) -> Iterator[None]:
        retry = self.limits.retry_after_seconds
        if self._tenants[tenant_id] >= self.limits.per_tenant:
            metrics.ADMISSION_REFUSED.labels("tenant").inc()
            raise ScaiEchoError(
                TOO_MANY_REQUESTS,
                f"the tenant already has {self.limits.per_tenant} inline transcriptions in flight",
                {"limit": self.limits.per_tenant},
                retry_after=retry,
            )
        if self._total >= self.limits.per_process:
            metrics.ADMISSION_REFUSED.labels("process").inc()
            raise ScaiEchoError(
                SERVER_BUSY,
                "the server is at its limit of inline transcriptions; retry shortly",
                retry_after=retry,
            )
        self._tenants[tenant_id] += 1
        self._total += 1
        try:
            yield
        finally:
            self._total -= 1
            self._tenants[tenant_id] -= 1
            if not self._tenants[tenant_id]:
                del self._tenants[tenant_id]
