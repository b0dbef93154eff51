"""A change and its audit event commit together: when either fails, neither is stored.

The module's services as the plugin wires them (``build_runtime``), on the stub host's real
classes and a real, migrated database (SQLite and PostgreSQL), with no server in between. The
failure lands inside the transaction, after the change and before its commit: a trigger makes
the database refuse one table's writes (as a full disk, a lost lock or a constraint would), or
the host's audit raises after writing its row (as a crash would).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from host_stub import migrate
from host_stub.accounting import StubAccounting
from host_stub.audit import StubAuditLog
from host_stub.blobs import LocalBlobStore
from host_stub.db import StubDatabase
from host_stub.host import StubHost
from host_stub.identity import StubIdentity
from host_stub.models import AuditRecord
from host_stub.queue import InProcessQueue
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.host_contract import AuditEvent, Principal
from scaiecho_module.jobs.models import JobStatus, TranscriptionJob
from scaiecho_module.policy.schemas import TenantPolicyUpdate
from scaiecho_module.policy.service import PolicyService
from scaiecho_module.runtime import ModuleRuntime, build_runtime
from tests.support.servers import create_database

pytestmark = pytest.mark.both_databases

ADMIN = frozenset({"scaiecho:admin"})


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database with both branches applied, as `scaigrid-stub migrate` leaves it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    else:
        url = create_database(request.getfixturevalue("pg_url"), f"audit_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(url)
    return url


@pytest.fixture
async def host(database_url: str, tmp_path: Path) -> AsyncIterator[StubHost]:
    database = StubDatabase(database_url)
    sessions = database.session_factory
    stub = StubHost(
        identity=StubIdentity(sessions),
        accounting=StubAccounting(sessions),
        audit=StubAuditLog(),
        database=database,
        blobs=LocalBlobStore(tmp_path / "blobs"),
        queue=InProcessQueue(),
        redis_url=None,
    )
    yield stub
    await stub.close()


@pytest.fixture
async def runtime(host: StubHost) -> AsyncIterator[ModuleRuntime]:
    built = build_runtime(host, ScaiEchoSettings(), engine=None)
    yield built
    await built.node_pool.close()
    await built.relays.close()


@pytest.fixture
def admin() -> Principal:
    return Principal(str(uuid.uuid4()), str(uuid.uuid4()), ADMIN)


class AuditLostBeforeCommit(StubAuditLog):
    """The stub's audit, failing once it has written its row into the module's session."""

    async def record(self, event: AuditEvent, *, session: AsyncSession) -> None:
        await super().record(event, session=session)
        raise ConnectionError("the host went away before the commit")


async def refuse_writes(database: StubDatabase, table: str) -> None:
    """From now on the database refuses every insert and update of ``table``."""
    if database.engine.dialect.name == "sqlite":
        statements = [
            f"CREATE TRIGGER refuse_{table}_{op.lower()} BEFORE {op} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            for op in ("INSERT", "UPDATE")
        ]
    else:
        statements = [
            "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_write()",
        ]
    async with database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def audit_actions(host: StubHost, tenant_id: str) -> list[str]:
    async with host.database.session_factory() as session:
        rows = await session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.tenant_id == tenant_id)
            .order_by(AuditRecord.created_at)
        )
        return list(rows)


async def stored_policy(policies: PolicyService, tenant_id: str) -> tuple[str, str] | None:
    row = await policies.stored(tenant_id)
    return None if row is None else (row.allowed_backends, row.default_backend)


async def test_policy_update_is_stored_with_exactly_one_audit_event(
    runtime: ModuleRuntime, host: StubHost, admin: Principal
) -> None:
    await runtime.policies.update(admin, TenantPolicyUpdate(["A"], "A"))
    assert await stored_policy(runtime.policies, admin.tenant_id) == ("A", "A")
    assert await audit_actions(host, admin.tenant_id) == ["scaiecho.tenant_policy.update"]


@pytest.mark.parametrize("refused", ["host_audit_event", "scaiecho_tenant_policy"])
async def test_policy_update_and_its_audit_event_are_all_or_nothing(
    runtime: ModuleRuntime, host: StubHost, admin: Principal, refused: str
) -> None:
    await runtime.policies.update(admin, TenantPolicyUpdate(["A", "B"], "A"))
    await refuse_writes(host.database, refused)
    with pytest.raises(DBAPIError):
        await runtime.policies.update(admin, TenantPolicyUpdate(["B"], "B"))
    assert await stored_policy(runtime.policies, admin.tenant_id) == ("AB", "A")
    assert await audit_actions(host, admin.tenant_id) == ["scaiecho.tenant_policy.update"]


async def test_first_policy_write_is_undone_when_the_host_fails_after_auditing(
    runtime: ModuleRuntime, host: StubHost, admin: Principal
) -> None:
    policies = PolicyService(
        host.database.session_factory,
        AuditLostBeforeCommit(),
        runtime.policies.default,
        runtime.backends.availability,
    )
    with pytest.raises(ConnectionError):
        await policies.update(admin, TenantPolicyUpdate(["A"], "A"))
    assert await stored_policy(runtime.policies, admin.tenant_id) is None
    assert await audit_actions(host, admin.tenant_id) == []


async def _queued_job(host: StubHost, owner: Principal) -> TranscriptionJob:
    job = TranscriptionJob(
        id=uuid.uuid4(),
        tenant_id=owner.tenant_id,
        user_id=owner.user_id,
        status=JobStatus.QUEUED,
        filename="long.wav",
        size_bytes=1,
        blob_key=None,
        backend_used="A",
        processed_samples=0,
        attempts=0,
        cancel_requested=False,
    )
    async with host.database.session_factory.begin() as session:
        session.add(job)
    return job


@pytest.mark.parametrize("refused", ["host_audit_event", "scaiecho_transcription_job"])
async def test_job_cancel_and_its_audit_event_are_all_or_nothing(
    runtime: ModuleRuntime, host: StubHost, admin: Principal, refused: str
) -> None:
    job = await _queued_job(host, admin)
    await refuse_writes(host.database, refused)
    with pytest.raises(DBAPIError):
        await runtime.jobs.cancel(admin, str(job.id))
    async with host.database.session_factory() as session:
        row = await session.get(TranscriptionJob, job.id)
    assert row is not None
    assert (row.status, row.cancel_requested) == (JobStatus.QUEUED, False)
    assert await audit_actions(host, admin.tenant_id) == []


async def test_job_cancel_is_stored_with_exactly_one_audit_event(
    runtime: ModuleRuntime, host: StubHost, admin: Principal
) -> None:
    job = await _queued_job(host, admin)
    cancelled = await runtime.jobs.cancel(admin, str(job.id))
    assert cancelled.status == JobStatus.CANCELLED
    assert await audit_actions(host, admin.tenant_id) == ["scaiecho.transcription_job.cancel"]
