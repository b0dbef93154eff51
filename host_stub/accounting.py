"""Accounting: a usage ledger, per-tenant, per-unit budgets, and holds on them.

A hold reserves budget before work runs, so concurrent requests cannot all pass a check that
each of them alone would pass: remaining = limit - usage - live holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from host_stub.models import BudgetHold, TenantBudget, UsageEvent
from scaiecho_module.host_contract import BudgetExhaustedError, MeteringUnit


class StubAccounting:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.units: dict[str, tuple[str, MeteringUnit]] = {}

    def register_unit(self, module_id: str, unit: MeteringUnit) -> None:
        self.units[unit.name] = (module_id, unit)

    async def remaining(self, tenant_id: str, unit: str) -> float | None:
        """Budget left for ``unit`` after usage and live holds, or ``None`` when unlimited."""
        async with self._sessions() as session:
            return await _remaining(session, UUID(tenant_id), unit, exclude=None)

    async def ensure_budget(self, tenant_id: str, unit: str, quantity: float) -> None:
        left = await self.remaining(tenant_id, unit)
        if left is not None and (left <= 0 or quantity > left):
            raise BudgetExhaustedError(unit, max(left, 0.0))

    async def hold(
        self,
        tenant_id: str,
        unit: str,
        quantity: float,
        reference: str,
        *,
        ttl_seconds: float | None = None,
    ) -> None:
        tenant = UUID(tenant_id)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
        async with self._sessions.begin() as session:
            # The first statement writes the budget row: a row lock on PostgreSQL, the database
            # write lock on SQLite. Every hold on this tenant's unit queues here, so the check
            # and the insert below cannot interleave with another request's, in any process.
            await session.execute(
                update(TenantBudget)
                .where(TenantBudget.tenant_id == tenant, TenantBudget.unit == unit)
                .values(limit=TenantBudget.limit)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                delete(BudgetHold).where(BudgetHold.expires_at.is_not(None), BudgetHold.expires_at < now)
            )
            existing = await session.scalar(select(BudgetHold).where(BudgetHold.reference == reference))
            if existing is None or quantity > existing.quantity:
                left = await _remaining(session, tenant, unit, exclude=reference)
                if left is not None and (left <= 0 or quantity > left):
                    raise BudgetExhaustedError(unit, max(left, 0.0))
            if existing is None:
                hold = BudgetHold(tenant_id=tenant, unit=unit, quantity=quantity, reference=reference)
                hold.expires_at = expires
                session.add(hold)
            else:
                existing.quantity = quantity
                existing.expires_at = expires

    async def release(self, reference: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(BudgetHold).where(BudgetHold.reference == reference))

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
                # The charge replaces the reservation in one commit: never both, never neither.
                await session.execute(delete(BudgetHold).where(BudgetHold.reference == reference))
        except IntegrityError:
            # Same reference already metered: a retried job must not be charged twice.
            await self.release(reference)


async def _remaining(session: AsyncSession, tenant: UUID, unit: str, exclude: str | None) -> float | None:
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
    live = select(func.coalesce(func.sum(BudgetHold.quantity), 0.0)).where(
        BudgetHold.tenant_id == tenant,
        BudgetHold.unit == unit,
        or_(BudgetHold.expires_at.is_(None), BudgetHold.expires_at >= datetime.now(UTC)),
    )
    if exclude is not None:
        live = live.where(BudgetHold.reference != exclude)
    held = await session.scalar(live)
    return float(limit) - float(used or 0.0) - float(held or 0.0)


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
