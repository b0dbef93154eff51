"""The same Alembic migrations build every table on SQLite and PostgreSQL, and undo cleanly."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from advanced_alchemy.base import orm_registry
from sqlalchemy import inspect

import host_stub.models  # noqa: F401
import scaiecho_module.models  # noqa: F401
from host_stub.db import make_engine
from host_stub.migrate import downgrade, upgrade
from tests.support.servers import create_database


def _tables(url: str) -> set[str]:
    async def main() -> set[str]:
        engine = make_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        return names - {"alembic_version"}

    return asyncio.run(main())


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
