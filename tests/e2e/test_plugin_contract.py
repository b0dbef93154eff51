"""The module loads into any Litestar app through its entry point; the host contract is the only coupling."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from scaiecho_module.host_contract import AuditEvent, Host, MeteringUnit, Principal, TaskFunction, TaskOptions
from scaiecho_module.policy.models import TenantPolicy
from tests.support import recordings

PACKAGE = Path(__file__).resolve().parents[2] / "scaiecho_module"


class BareHost:
    """The smallest host a platform could write: dictionaries and lists, plus a SQLite file."""

    def __init__(self, db_path: Path) -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")

        async def create() -> None:
            async with engine.begin() as conn:
                await conn.run_sync(TenantPolicy.metadata.create_all, tables=[TenantPolicy.__table__])

        asyncio.run(create())
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.tokens = {"secret-1": Principal("tenant-1", "user-1", frozenset({"scaiecho:transcribe"}))}
        self.permissions: dict[str, str] = {}
        self.units: list[MeteringUnit] = []
        self.usage: list[tuple[str, str, float]] = []
        self.events: list[AuditEvent] = []
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

    # audit
    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)

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

    async def delete(self, key: str) -> int:
        return 0

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    identity = accounting = audit = database = blobs = queue = property(lambda self: self)
    redis_url = None


@pytest.fixture
def bare_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Litestar, BareHost]]:
    monkeypatch.setenv("SCAIECHO_STT_MODEL", "tiny.en")
    host = BareHost(tmp_path / "bare.db")
    assert isinstance(host, Host)
    [entry] = [e for e in entry_points(group="scaigrid.modules") if e.name == "scaiecho"]
    app = Litestar(plugins=[entry.load()(host)])
    yield app, host


def test_loading_registers_permissions_and_metering_units(bare_app: tuple[Litestar, BareHost]) -> None:
    _, host = bare_app
    assert set(host.permissions) == {
        "scaiecho:transcribe",
        "scaiecho:enroll",
        "scaiecho:diarize",
        "scaiecho:admin",
    }
    assert [u.name for u in host.units] == ["scaiecho.audio_seconds"]
    assert list(host.tasks) == ["scaiecho.transcribe_job"]


def test_bare_app_transcribes_through_the_contract(bare_app: tuple[Litestar, BareHost]) -> None:
    app, host = bare_app
    clip = recordings.librivox("0930")
    with TestClient(app) as client, clip.wav.open("rb") as handle:
        resp = client.post(
            "/v1/modules/scaiecho/transcribe",
            headers={"Authorization": "Bearer secret-1"},
            files={"file": ("m.wav", handle, "audio/wav")},
        )
        denied = client.get(
            "/v1/modules/scaiecho/tenant-policy", headers={"Authorization": "Bearer secret-1"}
        )
    assert resp.status_code == 200, resp.text
    assert "amiable himself" in resp.json()["data"]["transcript"].lower()
    assert host.usage == [("tenant-1", "scaiecho.audio_seconds", pytest.approx(3.29, abs=0.01))]
    assert [e.action for e in host.events] == ["scaiecho.transcribe"]
    assert denied.status_code == 403


def test_module_never_imports_the_stub_host() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "host_stub"]
    assert offenders == []
