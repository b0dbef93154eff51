"""Alembic environment of ScaiEcho's own branch: the ``scaiecho_*`` tables, nothing else.

Run through ``scaiecho_module.migrations`` (upgrade/downgrade/stamp), which passes either a
database URL (``sqlalchemy.url``) or an open connection (``config.attributes["connection"]``).
Revisions are recorded in ``scaiecho_alembic_version``, never in the host's version table, and
autogenerate only ever compares the module's tables: a host's tables in the same database (or in
the same SQLAlchemy metadata) are neither created nor dropped here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from advanced_alchemy.base import orm_registry
from alembic import context
from sqlalchemy import create_engine, make_url, pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine

import scaiecho_module.models  # noqa: F401  (registers the module's tables)
from scaiecho_module.migrations import TABLE_PREFIX, VERSION_TABLE

config = context.config
target_metadata = orm_registry.metadata


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table":
        return bool(name and name.startswith(TABLE_PREFIX)) and name != VERSION_TABLE
    return True


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_include_object,
        **options,
    )


def _run(connection: Connection) -> None:
    _configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite reflects GUID columns as NUMERIC: comparing types there only invents changes.
        compare_type=connection.dialect.name != "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> URL:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a URL or a connection to scaiecho_module.migrations")
    return make_url(url)


def _connect_args(url: URL) -> dict[str, Any]:
    # Wait for a host process holding the SQLite file (as the host's engines do) instead of failing
    # at once. Foreign keys stay at SQLite's default (off) while migrating: a batch rebuild of a
    # parent table under foreign_keys=ON would cascade-delete its children's rows.
    return {"timeout": 30} if url.get_backend_name() == "sqlite" else {}


async def _run_async(url: URL) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=_connect_args(url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_blocking(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run to completion here, or on a thread of its own when this thread's event loop is running
    (a host calling the sync API from async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, coroutine).result()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = _url()
    if url.get_dialect().is_async:
        _run_blocking(_run_async(url))
        return
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=_connect_args(url))
    try:
        with engine.connect() as sync_connection:
            _run(sync_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
