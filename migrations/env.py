"""Alembic environment of the stub host's own branch: the ``host_*`` tables, nothing else.

Every module's tables live in that module's own branch (ScaiEcho's: ``scaiecho_module/migrations``,
version table ``scaiecho_alembic_version``); ``scaigrid-stub migrate`` applies this branch, then
each module's (``host_stub/migrate.py``). This one records its revisions in ``alembic_version``.

The URL comes from the Alembic config (set by ``scaigrid-stub migrate``) or SCAIGRID_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from advanced_alchemy.base import orm_registry
from alembic import context
from sqlalchemy.engine import Connection

import host_stub.models  # noqa: F401  (registers stub tables)
from host_stub.config import HostSettings
from host_stub.db import make_engine
from host_stub.migrate import HOST_TABLE_PREFIX, HOST_VERSION_TABLE

config = context.config
target_metadata = orm_registry.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or HostSettings.from_env().database_url


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Only the host's tables: the modules' (and their version tables) belong to their own branches.
    if type_ == "table":
        return bool(name and name.startswith(HOST_TABLE_PREFIX))
    return True


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=HOST_VERSION_TABLE,
        include_object=_include_object,
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
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        version_table=HOST_VERSION_TABLE,
        include_object=_include_object,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
