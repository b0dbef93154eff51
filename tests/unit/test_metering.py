"""Usage and its Prometheus metric are recorded by one helper, from one value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from scaiecho_module.host_contract import MeteringUnit
from scaiecho_module.metering import record_audio_usage


class Ledger:
    """A host's accounting, as a list; ``refuse`` makes it fail like an unreachable ledger."""

    def __init__(self, refuse: bool = False) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.refuse = refuse

    def register_unit(self, module_id: str, unit: MeteringUnit) -> None:
        return None

    async def ensure_budget(self, tenant_id: str, unit: str, quantity: float) -> None:
        return None

    async def hold(
        self, tenant_id: str, unit: str, quantity: float, reference: str, *, ttl_seconds: float | None = None
    ) -> None:
        return None

    async def release(self, reference: str) -> None:
        return None

    async def record_usage(
        self,
        tenant_id: str,
        user_id: str | None,
        unit: str,
        quantity: float,
        reference: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if self.refuse:
            raise ConnectionError("ledger unreachable")
        self.rows.append((tenant_id, user_id, unit, quantity, reference, dict(details or {})))


def _counted(mode: str, backend: str) -> float:
    labels = {"mode": mode, "backend": backend}
    return REGISTRY.get_sample_value("scaiecho_audio_seconds_total", labels) or 0.0


async def test_usage_and_its_metric_take_the_same_seconds() -> None:
    ledger = Ledger()
    before = _counted("stream", "B")
    await record_audio_usage(ledger, "t-1", "u-1", 2.5, "scaiecho:stream:s:1", mode="stream", backend="B")
    [row] = ledger.rows
    assert row == (
        "t-1",
        "u-1",
        "scaiecho.audio_seconds",
        2.5,
        "scaiecho:stream:s:1",
        {"backend": "B", "mode": "stream"},
    )
    assert _counted("stream", "B") - before == pytest.approx(2.5)


async def test_usage_the_host_refuses_is_not_counted() -> None:
    before = _counted("job", "A")
    with pytest.raises(ConnectionError):
        await record_audio_usage(
            Ledger(refuse=True), "t-1", None, 4.0, "scaiecho:job:j", mode="job", backend="A"
        )
    assert _counted("job", "A") == before
