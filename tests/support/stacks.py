"""Job stacks: the served stub host with each queue backend and blob store, plus workers.

- embedded: SQLite, the in-process worker, local blobs (what `make run` serves)
- redis+s3: PostgreSQL, saq on Redis, S3 (moto), separate `scaigrid-stub worker` processes
- pgqueue+s3: PostgreSQL, saq on PostgreSQL, S3 (moto), separate worker processes
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from host_stub.blobs import LocalBlobStore, S3BlobStore
from tests.support.servers import StubServer, create_database, server_env, start_worker, stub_server

# Small windows and fast failure detection so the tests see progress and recovery in seconds.
JOB_ENV = {
    "SCAIECHO_INLINE_MAX_BYTES": str(1024 * 1024),
    "SCAIECHO_JOB_WINDOW_SECONDS": "20",
    "SCAIECHO_JOB_HEARTBEAT_SECONDS": "3",
    "SCAIECHO_JOB_RETRY_DELAY_SECONDS": "0.5",
    "SCAIECHO_JOB_RECOVERY_SECONDS": "2",
    "SCAIGRID_WORKER_SWEEP_SECONDS": "2",
    # Orphans (blobs with no job row, half-written uploads) are swept after seconds, not hours.
    # Not fewer: S3 dates a multipart upload from its start, and on a loaded machine storing a
    # job's audio and committing its row took over 5 s, so a live submission's audio was swept.
    "SCAIECHO_ORPHAN_MIN_AGE_SECONDS": "15",
    "SCAIGRID_BLOB_PART_MAX_AGE_SECONDS": "5",
    "SCAIGRID_BLOB_SWEEP_SECONDS": "1",
    # Webhook receivers run in the tests on 127.0.0.1: that one address is allowed (the rest of
    # loopback stays refused, which tests/e2e/test_webhooks.py checks), and retries come fast.
    "SCAIECHO_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    "SCAIECHO_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "SCAIECHO_WEBHOOK_POLL_SECONDS": "0.5",
}


@dataclass
class JobStack:
    name: str
    database_url: str
    workdir: Path
    env: dict[str, str]
    server: StubServer
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def uses_workers(self) -> bool:
        return "SCAIGRID_QUEUE_URL" in self.env

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = start_worker(self.env, self.workdir / "worker.log")
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        os.kill(worker.pid, signal.SIGKILL)  # no graceful shutdown: a crash, as in production
        worker.wait(timeout=10)
        self.workers.remove(worker)

    def stop_workers(self) -> None:
        for worker in list(self.workers):
            worker.terminate()
            worker.wait(timeout=30)
            self.workers.remove(worker)

    def blob_exists(self, key: str) -> bool:
        async def check() -> bool:
            store: LocalBlobStore | S3BlobStore
            if "SCAIGRID_S3_BUCKET" in self.env:
                store = S3BlobStore(
                    self.env["SCAIGRID_S3_BUCKET"],
                    self.env["SCAIGRID_S3_ENDPOINT_URL"],
                    "us-east-1",
                    "test",
                    "test",
                )
            else:
                store = LocalBlobStore(Path(self.env["SCAIGRID_DATA_DIR"]) / "blobs")
            try:
                return await store.exists(key)
            finally:
                await store.close()

        return asyncio.run(check())

    def worker_log(self) -> str:
        path = self.workdir / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""


def stack_env(
    name: str, pg_url: str | None, redis_url: str | None, s3_url: str | None, workdir: Path
) -> tuple[str, dict[str, str]]:
    extra = dict(JOB_ENV)
    if name == "embedded":
        return f"sqlite+aiosqlite:///{workdir / 'stack.db'}", extra
    assert pg_url and s3_url
    # A database and a bucket of its own: the orphan sweep deletes job audio its database does
    # not name, so two stacks sharing a bucket would delete each other's queued audio.
    unique = f"{name.split('+', maxsplit=1)[0]}_{uuid.uuid4().hex[:6]}"
    database_url = create_database(pg_url, f"stack_{unique}")
    extra |= {
        "SCAIGRID_QUEUE_URL": redis_url if name == "redis+s3" else database_url,
        "SCAIGRID_S3_BUCKET": f"scaiecho-{unique.replace('_', '-')}",
        "SCAIGRID_S3_ENDPOINT_URL": s3_url,
        "SCAIGRID_S3_ACCESS_KEY_ID": "test",
        "SCAIGRID_S3_SECRET_ACCESS_KEY": "test",
    }
    assert extra["SCAIGRID_QUEUE_URL"]
    return database_url, extra


@contextmanager
def job_stack(name: str, database_url: str, extra: dict[str, str], workdir: Path) -> Iterator[JobStack]:
    with ExitStack() as cleanup:
        server = cleanup.enter_context(stub_server(database_url, workdir, extra))
        env = server_env(database_url, server.data_dir, server.tmp_dir, extra)
        stack = JobStack(name, database_url, workdir, env, server)
        cleanup.callback(stack.stop_workers)
        if stack.uses_workers:
            stack.start_worker()
        yield stack
