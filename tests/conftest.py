from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from host_stub import identity
from host_stub.accounting import set_budget
from host_stub.db import StubDatabase
from tests.support import recordings
from tests.support.servers import StubServer, postgresql, stub_server

ALL_PERMISSIONS = ("scaiecho:transcribe", "scaiecho:enroll", "scaiecho:diarize", "scaiecho:admin")


@pytest.fixture(scope="session", autouse=True)
def _recordings() -> None:
    recordings.ensure_recordings()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgresql() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'scaigrid.db'}"


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    with stub_server(database_url, tmp_path_factory.mktemp("stub")) as running:
        yield running


def run_db(database_url: str, work: Callable[[StubDatabase], Any]) -> Any:
    async def main() -> Any:
        db = StubDatabase(database_url)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


@dataclass
class Caller:
    """A user of one tenant holding one API key."""

    server: StubServer
    tenant_slug: str
    tenant_id: str
    user_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.api, headers=self.headers, timeout=120)

    def transcribe(self, path: Path, **fields: str) -> httpx.Response:
        with path.open("rb") as handle, self.client() as client:
            return client.post("/transcribe", files={"file": (path.name, handle, "audio/wav")}, data=fields)

    def set_budget(self, limit: float | None, unit: str = "scaiecho.audio_seconds") -> None:
        async def work(db: StubDatabase) -> None:
            async with db.session_factory.begin() as session:
                await set_budget(session, uuid.UUID(self.tenant_id), unit, limit)

        run_db(self.server.database_url, work)


MakeCaller = Callable[..., Caller]


@pytest.fixture
def make_caller(server: StubServer) -> MakeCaller:
    def make(permissions: Iterable[str] = ALL_PERMISSIONS, tenant: str | None = None) -> Caller:
        slug = tenant or f"t-{uuid.uuid4().hex[:10]}"
        email = f"u-{uuid.uuid4().hex[:8]}@example.test"

        async def work(db: StubDatabase) -> identity.IssuedKey:
            return await identity.create_user_with_key(db.session_factory, slug, email, permissions)

        issued = run_db(server.database_url, work)
        return Caller(server, slug, str(issued.tenant_id), str(issued.user_id), issued.key)

    return make


@pytest.fixture
def caller(make_caller: MakeCaller) -> Caller:
    return make_caller()
