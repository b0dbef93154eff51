"""StubHost: the stub's implementation of the module host contract."""

from __future__ import annotations

from dataclasses import dataclass

from host_stub.accounting import StubAccounting
from host_stub.audit import StubAuditLog
from host_stub.blobs import LocalBlobStore, S3BlobStore
from host_stub.config import HostSettings
from host_stub.db import StubDatabase
from host_stub.identity import StubIdentity
from host_stub.queue import InProcessQueue, SaqQueue


@dataclass(slots=True)
class StubHost:
    identity: StubIdentity
    accounting: StubAccounting
    audit: StubAuditLog
    database: StubDatabase
    blobs: LocalBlobStore | S3BlobStore
    queue: InProcessQueue | SaqQueue
    redis_url: str | None

    @classmethod
    def from_settings(cls, settings: HostSettings) -> StubHost:
        database = StubDatabase(settings.database_url)
        sessions = database.session_factory
        return cls(
            identity=StubIdentity(sessions),
            accounting=StubAccounting(sessions),
            audit=StubAuditLog(),
            database=database,
            blobs=_blob_store(settings),
            queue=SaqQueue(settings.queue_url) if settings.queue_url else InProcessQueue(),
            redis_url=settings.redis_url,
        )

    async def close(self) -> None:
        await self.queue.close()
        await self.blobs.close()
        await self.database.close()


def _blob_store(settings: HostSettings) -> LocalBlobStore | S3BlobStore:
    if settings.s3_bucket:
        return S3BlobStore(
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
    return LocalBlobStore(settings.blob_dir)
