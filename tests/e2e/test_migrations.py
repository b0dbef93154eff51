"""The migrations, two Alembic branches with a version table each, on SQLite and PostgreSQL.

- The host's branch (``migrations/``, ``alembic_version``) and the module's
  (``scaiecho_module/migrations``, ``scaiecho_alembic_version``) together build every model
  table, undo cleanly, and match the models (Alembic's ``check`` finds nothing to generate).
- The module's branch applies alone through its API, as a real ScaiGrid host would: on a URL
  (async or sync driver), on the host's own connection, and from async code.
- A database of the legacy single tree (revision 0001 or 0002 in ``alembic_version``, built by a
  copy of the old scripts) is adopted in place by ``scaigrid-stub migrate``: rows kept, nothing
  re-created, the same schema as a fresh build.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.base import orm_registry
from alembic import command
from sqlalchemy import column as sa_column
from sqlalchemy import insert, inspect, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import host_stub.models  # noqa: F401
import scaiecho_module.models  # noqa: F401
from host_stub.db import StubDatabase, make_engine
from host_stub.migrate import alembic_config, downgrade, upgrade
from host_stub.models import Tenant
from scaiecho_module import migrations
from scaiecho_module.jobs.models import TranscriptionJob
from scaiecho_module.policy.models import TenantPolicy
from tests.support.db import MODULE_TABLES, run_db
from tests.support.legacy_migrations import upgrade_legacy
from tests.support.servers import VENV_BIN, create_database, server_env

pytestmark = pytest.mark.both_databases

VERSION_TABLES = {"alembic_version", migrations.VERSION_TABLE}
HOST_HEAD = "host_0002"


def _inspect(url: str, read: Any) -> Any:
    async def main() -> Any:
        engine = make_engine(url)
        async with engine.connect() as conn:
            found = await conn.run_sync(read)
        await engine.dispose()
        return found

    return asyncio.run(main())


def _tables(url: str) -> set[str]:
    names: set[str] = _inspect(url, lambda sync: set(inspect(sync).get_table_names()))
    return names - VERSION_TABLES


def _versions(url: str) -> dict[str, set[str]]:
    """What each version table that exists holds."""

    def read(sync: Connection) -> dict[str, set[str]]:
        present = VERSION_TABLES & set(inspect(sync).get_table_names())
        return {t: set(sync.execute(text(f"SELECT version_num FROM {t}")).scalars()) for t in present}

    found: dict[str, set[str]] = _inspect(url, read)
    return found


def _schema(url: str) -> dict[str, Any]:
    """Columns, keys, indexes and constraints of every table but the version tables."""

    def read(sync: Connection) -> dict[str, Any]:
        insp = inspect(sync)
        schema: dict[str, Any] = {}
        for table in sorted(set(insp.get_table_names()) - VERSION_TABLES):
            schema[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
                "pk": insp.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"])
                    for f in insp.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"] or "", tuple(map(str, i["column_names"])), bool(i["unique"]))
                    for i in insp.get_indexes(table)
                ),
                "uniques": sorted(
                    (u["name"] or "", tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
                ),
            }
        return schema

    found: dict[str, Any] = _inspect(url, read)
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    base: str = request.getfixturevalue("pg_url")
    return create_database(base, f"m_{uuid.uuid4().hex[:8]}")


def test_migrations_create_every_model_table_and_undo_cleanly(fresh_url: str) -> None:
    expected = set(orm_registry.metadata.tables)
    assert {"scaiecho_tenant_policy", "host_api_key", "host_usage_event", "host_audit_event"} <= expected
    upgrade(fresh_url)
    assert _tables(fresh_url) == expected
    downgrade(fresh_url, "base")
    assert _tables(fresh_url) == set()
    upgrade(fresh_url)
    assert _tables(fresh_url) == expected


def test_each_branch_keeps_its_own_version_table_and_matches_the_models(fresh_url: str) -> None:
    upgrade(fresh_url)
    assert _versions(fresh_url) == {
        "alembic_version": {HOST_HEAD},
        "scaiecho_alembic_version": {migrations.head()},
    }
    # Autogenerate in either branch finds nothing to add, alter, or drop (the other branch's
    # tables and version table included): migrations and models agree.
    command.check(alembic_config(fresh_url))
    command.check(migrations.alembic_config(fresh_url))
    downgrade(fresh_url, "base")
    assert _versions(fresh_url) == {"alembic_version": set(), "scaiecho_alembic_version": set()}


def test_module_branch_applies_alone_through_its_api(fresh_url: str) -> None:
    """A real host's database: nothing of the stub's, just the module's branch."""
    sync_url = fresh_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    migrations.upgrade(sync_url)  # a sync driver works as well
    assert _tables(fresh_url) == MODULE_TABLES
    assert _versions(fresh_url) == {"scaiecho_alembic_version": {migrations.head()}}
    migrations.downgrade(fresh_url, "base")
    assert _tables(fresh_url) == set()

    async def host_startup() -> set[str]:
        engine = create_async_engine(fresh_url)
        async with engine.begin() as conn:  # the host's connection and transaction
            await conn.run_sync(migrations.upgrade)
        async with engine.connect() as conn:
            created = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        await engine.dispose()
        migrations.downgrade(fresh_url, "scaiecho_0001")  # the sync API, with this loop running
        return created

    assert asyncio.run(host_startup()) == MODULE_TABLES | {migrations.VERSION_TABLE}
    assert _tables(fresh_url) == {"scaiecho_tenant_policy"}
    assert _versions(fresh_url) == {"scaiecho_alembic_version": {"scaiecho_0001"}}


_LEGACY_JOB = sa_table(
    "scaiecho_transcription_job",
    *(sa_column(c.name, c.type) for c in TranscriptionJob.__table__.columns if c.name in {
        "id", "tenant_id", "user_id", "status", "filename", "size_bytes", "backend_used",
        "processed_samples", "attempts", "cancel_requested", "created_at", "updated_at",
    }),
)  # fmt: skip


def _legacy_job(job_id: uuid.UUID) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": job_id, "tenant_id": "legacy", "user_id": "u", "status": "queued", "filename": "a.wav",
        "size_bytes": 1, "backend_used": "A", "processed_samples": 0, "attempts": 0,
        "cancel_requested": False, "created_at": now, "updated_at": now,
    }  # fmt: skip


def _add_rows(url: str, with_job: bool) -> dict[str, uuid.UUID]:
    async def work(db: StubDatabase) -> dict[str, uuid.UUID]:
        async with db.session_factory.begin() as session:
            tenant = Tenant(slug="legacy", name="Legacy Ltd")
            policy = TenantPolicy(tenant_id="legacy", allowed_backends="AB", default_backend="A")
            rows: dict[str, Any] = {"tenant": tenant, "policy": policy}
            session.add_all(rows.values())
            await session.flush()
            ids = {name: row.id for name, row in rows.items()}
            if with_job:
                # Only the columns a legacy database has: the ORM model has grown since.
                ids["job"] = uuid.uuid4()
                await session.execute(insert(_LEGACY_JOB).values(**_legacy_job(ids["job"])))
            return ids

    return run_db(url, work)


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "tenant": select(Tenant.id, Tenant.slug, Tenant.name),
        "policy": select(TenantPolicy.id, TenantPolicy.tenant_id, TenantPolicy.allowed_backends),
        "job": select(TranscriptionJob.id, TranscriptionJob.filename),
    }

    async def work(db: StubDatabase) -> dict[str, list[tuple[Any, ...]]]:
        async with db.session_factory() as session:
            return {name: [tuple(row) for row in await session.execute(q)] for name, q in queries.items()}

    return run_db(url, work)


@pytest.mark.parametrize("legacy", ["0001", "0002"])
def test_legacy_database_is_adopted_in_place(fresh_url: str, legacy: str, tmp_path: Path) -> None:
    upgrade_legacy(fresh_url, legacy)
    assert _versions(fresh_url) == {"alembic_version": {legacy}}
    ids = _add_rows(fresh_url, with_job=legacy == "0002")

    env = server_env(fresh_url, tmp_path / "data", tmp_path)
    result = subprocess.run(
        [str(VENV_BIN / "scaigrid-stub"), "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"adopted legacy revision {legacy}" in result.stderr
    assert "Running upgrade  -> host_0001" not in result.stderr  # stamped, not re-created
    assert "Running upgrade  -> scaiecho_0001" not in result.stderr
    assert ("Running upgrade scaiecho_0001 -> scaiecho_0002" in result.stderr) == (legacy == "0001")

    assert _versions(fresh_url) == {
        "alembic_version": {HOST_HEAD},
        "scaiecho_alembic_version": {migrations.head()},
    }
    assert _tables(fresh_url) == set(orm_registry.metadata.tables)
    rows = _rows(fresh_url)
    assert rows["tenant"] == [(ids["tenant"], "legacy", "Legacy Ltd")]
    assert rows["policy"] == [(ids["policy"], "legacy", "AB")]
    assert rows["job"] == ([(ids["job"], "a.wav")] if "job" in ids else [])
    adopted = _schema(fresh_url)

    # A second run finds nothing to adopt or apply.
    again = subprocess.run(
        [str(VENV_BIN / "scaigrid-stub"), "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr
    assert "adopted" not in again.stderr
    assert "Running upgrade" not in again.stderr

    downgrade(fresh_url, "base")
    assert _tables(fresh_url) == set()
    assert _versions(fresh_url) == {"alembic_version": set(), "scaiecho_alembic_version": set()}
    upgrade(fresh_url)
    assert _versions(fresh_url) == {
        "alembic_version": {HOST_HEAD},
        "scaiecho_alembic_version": {migrations.head()},
    }
    # The adopted database had exactly the schema the new branches build from scratch.
    assert _schema(fresh_url) == adopted
