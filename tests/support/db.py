"""Read what a user would check in the database: usage ledger and audit rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select

from host_stub.db import StubDatabase
from host_stub.identity import create_user_with_key
from host_stub.models import AuditRecord, BudgetHold, UsageEvent

T = TypeVar("T")


def run_db(database_url: str, work: Callable[[StubDatabase], Awaitable[T]]) -> T:
    async def main() -> T:
        db = StubDatabase(database_url)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def usage_rows(
    database_url: str, tenant_id: str | None = None, reference: str | None = None
) -> list[UsageEvent]:
    query = select(UsageEvent).order_by(UsageEvent.created_at)
    if tenant_id is not None:
        query = query.where(UsageEvent.tenant_id == uuid.UUID(tenant_id))
    if reference is not None:
        query = query.where(UsageEvent.reference == reference)

    async def work(db: StubDatabase) -> list[UsageEvent]:
        async with db.session_factory() as session:
            return list(await session.scalars(query))

    return run_db(database_url, work)


def hold_rows(database_url: str, tenant_id: str) -> list[BudgetHold]:
    """The budget holds the host still keeps for a tenant (work in progress, unsettled)."""
    query = select(BudgetHold).where(BudgetHold.tenant_id == uuid.UUID(tenant_id))

    async def work(db: StubDatabase) -> list[BudgetHold]:
        async with db.session_factory() as session:
            return list(await session.scalars(query))

    return run_db(database_url, work)


def audit_rows(database_url: str, tenant_id: str) -> list[AuditRecord]:
    query = select(AuditRecord).where(AuditRecord.tenant_id == tenant_id).order_by(AuditRecord.created_at)

    async def work(db: StubDatabase) -> list[AuditRecord]:
        async with db.session_factory() as session:
            return list(await session.scalars(query))

    return run_db(database_url, work)


def issue_key(
    database_url: str, permissions: Iterable[str], tenant: str = "bench", email: str = "bench@local"
) -> Any:
    """A new user (in a new or existing tenant) holding ``permissions``; returns the IssuedKey."""

    async def work(db: StubDatabase) -> Any:
        return await create_user_with_key(db.session_factory, tenant, email, permissions)

    return run_db(database_url, work)


# Every table the module's migrations create (the host's tables are not in it).
MODULE_TABLES = {
    "scaiecho_tenant_policy",
    "scaiecho_transcription_job",
    "scaiecho_job_segment",
    "scaiecho_speaker_profile",
    "scaiecho_speaker_consent",
    "scaiecho_speaker_erasure",
    "scaiecho_webhook_delivery",
    "scaiecho_webhook_secret",
}
