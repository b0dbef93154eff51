"""StubHost: the stub's implementation of the module host contract."""

from __future__ import annotations

from dataclasses import dataclass

from host_stub.accounting import StubAccounting
from host_stub.audit import StubAuditLog
from host_stub.blobs import LocalBlobStore
from host_stub.config import HostSettings
from host_stub.db import StubDatabase
from host_stub.identity import StubIdentity
from host_stub.queue import InProcessQueue


@dataclass(slots=True)
class StubHost:
    identity: StubIdentity
    accounting: StubAccounting
    audit: StubAuditLog
    database: StubDatabase
    blobs: LocalBlobStore
    queue: InProcessQueue
    redis_url: str | None

    @classmethod
    def from_settings(cls, settings: HostSettings) -> StubHost:
        database = StubDatabase(settings.database_url)
        sessions = database.session_factory
        return cls(
            identity=StubIdentity(sessions),
            accounting=StubAccounting(sessions),
            audit=StubAuditLog(sessions),
            database=database,
            blobs=LocalBlobStore(settings.blob_dir),
            queue=InProcessQueue(),
            redis_url=settings.redis_url,
        )

    async def close(self) -> None:
        await self.queue.close()
        await self.database.close()
