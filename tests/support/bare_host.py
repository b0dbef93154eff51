"""A host written from the contract alone (``scaiecho_module.host_contract``), nothing of the stub.

Self-contained on purpose: it imports only the installed packages, never ``tests`` or
``host_stub``, so the wheel test copies this file into a bare venv and runs it there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from scaiecho_module import migrations
from scaiecho_module.host_contract import (
    AuditEvent,
    BlobInfo,
    MeteringUnit,
    Principal,
    TaskFunction,
    TaskOptions,
)


class BareHost:
    """The smallest host a platform could write: dictionaries and lists, plus a SQLite file
    whose tables are the module's, made by the module's own migrations, and one of its own for
    audit events (they must commit in the module's transaction, so they live in its database)."""

    def __init__(self, db_path: Path) -> None:
        url = f"sqlite+aiosqlite:///{db_path}"
        migrations.upgrade(url)
        self._db_path = db_path
        with contextlib.closing(sqlite3.connect(db_path)) as con, con:
            con.execute("CREATE TABLE IF NOT EXISTS bare_audit_event (event TEXT NOT NULL)")
        engine = create_async_engine(url)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.tokens = {"secret-1": Principal("tenant-1", "user-1", frozenset({"scaiecho:transcribe"}))}
        self.permissions: dict[str, str] = {}
        self.units: list[MeteringUnit] = []
        self.usage: list[tuple[str, str, float]] = []
        self.tasks: dict[str, TaskFunction] = {}

    # identity
    async def authenticate(self, token: str) -> Principal | None:
        return self.tokens.get(token)

    def register_permissions(self, module_id: str, permissions: Mapping[str, str]) -> None:
        self.permissions.update(permissions)

    # accounting
    def register_unit(self, module_id: str, unit: MeteringUnit) -> None:
        self.units.append(unit)

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
        self.usage.append((tenant_id, unit, quantity))

    # audit: a row in the session the module hands over, committed (or not) with its change
    async def record(self, event: AuditEvent, *, session: AsyncSession) -> None:
        row = json.dumps(dataclasses.asdict(event))
        await session.execute(text("INSERT INTO bare_audit_event (event) VALUES (:event)"), {"event": row})

    @property
    def events(self) -> list[AuditEvent]:
        with contextlib.closing(sqlite3.connect(self._db_path)) as con:
            rows = con.execute("SELECT event FROM bare_audit_event ORDER BY rowid").fetchall()
        return [AuditEvent(**json.loads(event)) for (event,) in rows]

    # queue
    def register_task(self, name: str, function: TaskFunction, options: TaskOptions) -> None:
        assert options.heartbeat_seconds > 0  # long audio must be watched, not killed at 10 s
        self.tasks[name] = function

    async def enqueue(self, name: str, job_key: str, **kwargs: Any) -> None:
        raise OSError("this host runs no queued jobs")

    # blobs
    async def put(self, key: str, source: IO[bytes]) -> int:
        raise OSError("this host has no blob store")

    async def get_to_file(self, key: str, target: IO[bytes]) -> int:
        raise OSError("this host has no blob store")

    async def list_keys(self, prefix: str) -> list[BlobInfo]:
        return []

    async def delete(self, key: str) -> int:
        return 0

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    identity = accounting = audit = database = blobs = queue = property(lambda self: self)
    redis_url = None


def module_app(host: BareHost) -> Litestar:
    """A Litestar app holding nothing but the module, loaded through its entry point."""
    [entry] = [e for e in entry_points(group="scaigrid.modules") if e.name == "scaiecho"]
    return Litestar(plugins=[entry.load()(host)])
