"""Real servers on loopback for tests: PostgreSQL and the served stub host."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens, held for the context by a socket bound to it
    that never listens: a connect there is refused, and no server another test starts (nor
    an outgoing connection's source port) can take it meanwhile, as one ``free_port`` found
    free can (CI once saw the "unreachable" relay answer)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (the test command installs it)")
    return found


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgresql() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster; yield an asyncpg SQLAlchemy URL."""
    # Its own directory: pytest's temp dirs are 0700 root, which the postgres user cannot enter.
    workdir = Path(tempfile.mkdtemp(prefix="scaiecho-pg-"))
    data = workdir / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [_pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(workdir / "pg.log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class StubServer:
    base_url: str
    database_url: str
    data_dir: Path
    tmp_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.base_url}/v1/modules/scaiecho"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(
    database_url: str, data_dir: Path, tmp_dir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SCAIGRID_DATABASE_URL": database_url,
            "SCAIGRID_DATA_DIR": str(data_dir),
            "SCAIECHO_STT_MODEL": os.environ.get("SCAIECHO_TEST_STT_MODEL", "tiny.en"),
            "SCAIECHO_STT_CPU_THREADS": "2",
            "TMPDIR": str(tmp_dir),
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
        }
    )
    env.update(extra or {})
    return env


# The stub hosts this test process runs now: a failing test's report shows their logs' ends.
RUNNING: list[StubServer] = []


@contextmanager
def stub_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[StubServer]:
    """Migrate, then run ``scaigrid-stub serve`` as a real process until the context ends."""
    data_dir, tmp_dir = workdir / "data", workdir / "tmp"
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(database_url, data_dir, tmp_dir, extra_env)
    cli = str(VENV_BIN / "scaigrid-stub")
    subprocess.run([cli, "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = StubServer(f"http://127.0.0.1:{port}", database_url, data_dir, tmp_dir, log_path, process)
    RUNNING.append(server)
    try:
        # The embedded default also loads the speaker engine (torch): 4-5 s of CPU, far longer
        # in wall time when the shared 2-core machine is busy.
        deadline = time.monotonic() + 150
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"stub host exited early:\n{server.log_text()}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stub host did not start:\n{server.log_text()}")
            time.sleep(0.2)
        yield server
    finally:
        RUNNING.remove(server)
        stop(process, 15)


def diagnostics(lines: int = 40) -> str:
    """The end of each running stub host's log, and who holds file locks (SQLite's write lock
    is a POSIX lock on the database's -shm file): what a "database is locked" needs."""
    parts = []
    for server in RUNNING:
        tail = server.log_text().splitlines()[-lines:]
        parts.append(f"--- {server.base_url} (pid {server.process.pid}), log end:\n" + "\n".join(tail))
    with contextlib.suppress(OSError):
        held = []
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[1] == "POSIX":
                pid = fields[4]
                with contextlib.suppress(OSError):  # the process name only: arguments may hold tokens
                    held.append(f"{line}  <- {Path(f'/proc/{pid}/comm').read_text().strip()}")
        parts.append("--- POSIX locks:\n" + "\n".join(held))
    return "\n".join(parts)


def stop(process: subprocess.Popen[Any], timeout: float) -> None:
    """Terminate ``process``; kill it if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def _listening(command: list[str], port: int) -> Iterator[None]:
    """Run ``command`` until the context ends, once something listens on ``port``."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, process)
        yield
    finally:
        stop(process, 10)


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    with _listening(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], port
    ):
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server; yields its endpoint URL."""
    port = free_port()
    with _listening([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port):
        yield f"http://127.0.0.1:{port}"


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def create_database(pg_url: str, name: str) -> str:
    """A fresh database in the test cluster, so stacks never see each other's jobs."""
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(VENV_BIN / "scaigrid-stub"), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
