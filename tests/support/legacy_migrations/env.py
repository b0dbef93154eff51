"""The legacy layout, kept for the upgrade tests: ONE Alembic tree for every table.

This is ``migrations/`` as it was before the module got its own branch (revisions ``0001`` and
``0002``, both recorded in ``alembic_version``), copied unchanged but for this docstring. The tests
build a database with it, then check that ``scaigrid-stub migrate`` adopts it in place.
Run it through ``tests.support.legacy_migrations.upgrade_legacy``; never edit the scripts.
"""

from __future__ import annotations

import asyncio

from advanced_alchemy.base import orm_registry
from alembic import context
from sqlalchemy.engine import Connection

import host_stub.models  # noqa: F401  (registers stub tables)
import scaiecho_module.models  # noqa: F401  (registers module tables)
from host_stub.config import HostSettings
from host_stub.db import make_engine

config = context.config
target_metadata = orm_registry.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or HostSettings.from_env().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite reflects GUID columns as NUMERIC: comparing types there only invents changes.
        compare_type=connection.dialect.name != "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
