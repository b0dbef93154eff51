"""Accounting: a usage ledger and per-tenant, per-unit budgets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from host_stub.models import TenantBudget, UsageEvent
from scaiecho_module.host_contract import BudgetExhaustedError, MeteringUnit


class StubAccounting:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.units: dict[str, tuple[str, MeteringUnit]] = {}

    def register_unit(self, module_id: str, unit: MeteringUnit) -> None:
        self.units[unit.name] = (module_id, unit)

    async def remaining(self, tenant_id: str, unit: str) -> float | None:
        """Budget left for ``unit``, or ``None`` when the tenant has no limit on it."""
        tenant = UUID(tenant_id)
        async with self._sessions() as session:
            limit = await session.scalar(
                select(TenantBudget.limit).where(TenantBudget.tenant_id == tenant, TenantBudget.unit == unit)
            )
            if limit is None:
                return None
            used = await session.scalar(
                select(func.coalesce(func.sum(UsageEvent.quantity), 0.0)).where(
                    UsageEvent.tenant_id == tenant, UsageEvent.unit == unit
                )
            )
            return float(limit) - float(used or 0.0)

    async def ensure_budget(self, tenant_id: str, unit: str, quantity: float) -> None:
        left = await self.remaining(tenant_id, unit)
        if left is not None and (left <= 0 or quantity > left):
            raise BudgetExhaustedError(unit, max(left, 0.0))

    async def record_usage(
        self,
        tenant_id: str,
        user_id: str | None,
        unit: str,
        quantity: float,
        reference: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        module_id = self.units[unit][0] if unit in self.units else unit.split(".", 1)[0]
        try:
            async with self._sessions.begin() as session:
                session.add(
                    UsageEvent(
                        tenant_id=UUID(tenant_id),
                        user_id=UUID(user_id) if user_id else None,
                        module_id=module_id,
                        unit=unit,
                        quantity=quantity,
                        reference=reference,
                        details=dict(details or {}),
                    )
                )
        except IntegrityError:
            # Same reference already metered: a retried job must not be charged twice.
            return


async def set_budget(session: AsyncSession, tenant_id: UUID, unit: str, limit: float | None) -> None:
    row = await session.scalar(
        select(TenantBudget).where(TenantBudget.tenant_id == tenant_id, TenantBudget.unit == unit)
    )
    if limit is None:
        if row is not None:
            await session.delete(row)
        return
    if row is None:
        session.add(TenantBudget(tenant_id=tenant_id, unit=unit, limit=limit))
    else:
        row.limit = limit
