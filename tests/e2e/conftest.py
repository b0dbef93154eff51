from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from host_stub.accounting import set_budget
from host_stub.db import StubDatabase
from tests.support import recordings, servers
from tests.support.db import issue_key, run_db
from tests.support.servers import StubServer, postgresql, redis_server, s3_server, stub_server
from tests.support.stacks import JobStack, job_stack, stack_env

ALL_PERMISSIONS = ("scaiecho:transcribe", "scaiecho:enroll", "scaiecho:diarize", "scaiecho:admin")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if report.failed:
        report.sections.append(("stub hosts", servers.diagnostics()))
    return report


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


# Small enough to exercise the 413 path without gigabyte uploads.
SERVER_ENV = {
    "SCAIECHO_MAX_UPLOAD_BYTES": str(12 * 1024 * 1024),
    "SCAIECHO_STREAM_IDLE_SECONDS": "3",  # the idle-timeout test waits this long
    "SCAIECHO_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",  # test receivers (test_openapi's sample)
}


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    with stub_server(database_url, tmp_path_factory.mktemp("stub"), SERVER_ENV) as running:
        yield running


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

    def job(self, job_id: str) -> dict[str, Any]:
        with self.client() as client:
            resp = client.get(f"/transcribe/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()["data"]
        return data

    def transcribe(self, path: Path, **fields: str) -> httpx.Response:
        with path.open("rb") as handle, self.client() as client:
            return client.post("/transcribe", files={"file": (path.name, handle, "audio/wav")}, data=fields)

    def set_budget(self, limit: float | None, unit: str = "scaiecho.audio_seconds") -> None:
        async def work(db: StubDatabase) -> None:
            async with db.session_factory.begin() as session:
                await set_budget(session, uuid.UUID(self.tenant_id), unit, limit)

        run_db(self.server.database_url, work)


MakeCaller = Callable[..., Caller]


def caller_factory(server: StubServer) -> MakeCaller:
    def make(permissions: Iterable[str] = ALL_PERMISSIONS, tenant: str | None = None) -> Caller:
        slug = tenant or f"t-{uuid.uuid4().hex[:10]}"
        email = f"u-{uuid.uuid4().hex[:8]}@example.test"

        issued = issue_key(server.database_url, permissions, slug, email)
        return Caller(server, slug, str(issued.tenant_id), str(issued.user_id), issued.key)

    return make


@pytest.fixture
def make_caller(server: StubServer) -> MakeCaller:
    return caller_factory(server)


@pytest.fixture
def caller(make_caller: MakeCaller) -> Caller:
    return make_caller()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    with s3_server() as url:
        yield url


STACKS = ["embedded", "redis+s3", "pgqueue+s3"]


def open_stack(name: str, request: pytest.FixtureRequest, workdir: Path) -> Any:
    """Start a job stack; pulls in PostgreSQL, Redis and S3 only for the stacks that need them."""
    pg = redis = s3 = None
    if name != "embedded":
        pg, s3 = request.getfixturevalue("pg_url"), request.getfixturevalue("s3_url")
        redis = request.getfixturevalue("redis_url") if name == "redis+s3" else None
    database_url, extra = stack_env(name, pg, redis, s3, workdir)
    return job_stack(name, database_url, extra, workdir)


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobStack]:
    with open_stack(request.param, request, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def job_caller(stack: JobStack) -> Caller:
    return caller_factory(stack.server)()
