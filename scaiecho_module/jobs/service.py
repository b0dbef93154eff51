"""JobService: accept long audio as a queued transcription job; show, list and cancel jobs.

Order of a submission (nothing lost): audio to the blob store, then the job row with its
audit event (one transaction), then the queue. A crash between the row and the queue leaves a
``queued`` row that :meth:`recover` enqueues again (the queue is idempotent by job key), so
every accepted job runs.
"""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import IO

import anyio.to_thread
from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from scaiecho_module.audio.decode import probe
from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.backends.base import BackendSet
from scaiecho_module.channels import Transport
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import (
    JOB_FINISHED,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    VALIDATION_ERROR,
    ScaiEchoError,
)
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.jobs.models import TERMINAL, JobSegment, JobStatus, TranscriptionJob, utcnow
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.jobs.views import job_view
from scaiecho_module.metering import hold_audio_budget, release_audio_hold
from scaiecho_module.permissions import PERM_ADMIN
from scaiecho_module.policy.service import PolicyService
from scaiecho_module.transcript import DecodeOptions, Segment
from scaiecho_module.webhooks.service import WebhookRequest, WebhookService, arm

logger = logging.getLogger("scaiecho.jobs")
TASK_NAME = "scaiecho.transcribe_job"


BLOB_PREFIX = "scaiecho/jobs/"


def blob_key(tenant_id: str, job_id: uuid.UUID) -> str:
    return f"{BLOB_PREFIX}{tenant_id}/{job_id}"


def usage_reference(job_id: uuid.UUID | str) -> str:
    """The job's metering reference: its budget hold and, once it ran, its usage row."""
    return f"scaiecho:job:{job_id}"


class JobService:
    def __init__(
        self,
        host: Host,
        settings: ScaiEchoSettings,
        backends: BackendSet,
        policies: PolicyService,
        webhooks: WebhookService | None = None,
    ) -> None:
        self._host = host
        self._webhooks = webhooks
        self._settings = settings
        self._backends = backends
        self._policies = policies
        self._sessions = host.database.session_factory

    async def submit(
        self,
        principal: Principal,
        audio_file: IO[bytes],
        size_bytes: int,
        filename: str,
        language_hint: str | None,
        preference: BackendPreference,
        options: DecodeOptions | None = None,
        *,
        transport: Transport = Transport.REST,
        diarize: bool = False,
        webhook: WebhookRequest | None = None,
    ) -> TranscriptionJobView:
        options = options or DecodeOptions()
        limit = self._settings.jobs.max_upload_bytes
        if size_bytes > limit:
            raise ScaiEchoError(
                PAYLOAD_TOO_LARGE, f"file is larger than {limit} bytes", {"limit_bytes": limit}
            )
        if webhook is not None:
            if self._webhooks is None:
                raise ScaiEchoError(VALIDATION_ERROR, "webhooks are not available", {"field": "webhook_url"})
            webhook = await self._webhooks.validate(webhook)
        policy = await self._policies.effective(principal.tenant_id)
        backend_id = self._backends.resolve(principal.tenant_id, policy, preference)
        # Refuse what can never decode now, not minutes later in a worker.
        estimated = await anyio.to_thread.run_sync(probe, audio_file)
        job_id = uuid.uuid4()
        # The stated duration is held until the job settles; the runner asks for more if the
        # audio turns out longer than its header said, and stops when the budget refuses.
        reference = usage_reference(job_id)
        await hold_audio_budget(self._host.accounting, principal.tenant_id, estimated or 0.0, reference)
        key = blob_key(principal.tenant_id, job_id)
        try:
            await self._host.blobs.put(key, audio_file)
        except BaseException:
            await release_audio_hold(self._host.accounting, reference)
            raise
        job = TranscriptionJob(
            id=job_id,
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            status=JobStatus.QUEUED,
            filename=filename[:255],
            size_bytes=size_bytes,
            blob_key=key,
            language_hint=language_hint,
            backend_used=backend_id,
            estimated_seconds=estimated,
            processed_samples=0,
            attempts=0,
            cancel_requested=False,
            word_timestamps=options.word_timestamps,
            prompt=options.prompt,
            hotwords=options.hotwords,
            diarize=diarize,
        )
        event = AuditEvent(
            principal.tenant_id,
            principal.user_id,
            "scaiecho.transcription_job.submit",
            str(job_id),
            {
                "backend": backend_id,
                "transport": transport.value,
                "bytes": size_bytes,
                "estimated_seconds": estimated,
                "diarize": diarize,
                "webhook": webhook is not None,
            },
        )
        try:
            async with self._sessions.begin() as session:
                session.add(job)
                if webhook is not None and self._webhooks is not None:
                    await session.flush()  # the job row first: the delivery row references it
                    self._webhooks.attach(session, job_id, principal.tenant_id, webhook)
                await self._host.audit.record(event, session=session)  # the row and its audit, or neither
        except Exception:
            await self._host.blobs.delete(key)  # no row, no orphaned audio
            await release_audio_hold(self._host.accounting, reference)
            raise
        await self._enqueue(job_id)
        return job_view(job)

    async def _enqueue(self, job_id: uuid.UUID) -> None:
        try:
            await self._host.queue.enqueue(TASK_NAME, str(job_id), job_id=str(job_id))
        except Exception:
            # The row is committed as queued; recover() enqueues it once the queue is back.
            logger.exception("could not enqueue job %s; it stays queued for recovery", job_id)

    async def recover(self) -> int:
        """Enqueue every unfinished job again (idempotent by key). Returns how many."""
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(TranscriptionJob.id).where(
                        TranscriptionJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
                    )
                )
            )
        for job_id in ids:
            await self._enqueue(job_id)
        return len(ids)

    async def sweep_orphans(self, min_age_seconds: float) -> int:
        """Delete job audio no job row names (a process killed between the blob and its row).

        Only blobs older than ``min_age_seconds``: a submission stores its audio a moment
        before it commits the row, and that moment must not look like an orphan.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=min_age_seconds)
        stale = [b.key for b in await self._host.blobs.list_keys(BLOB_PREFIX) if b.modified < cutoff]
        removed = 0
        for start in range(0, len(stale), 500):
            batch = stale[start : start + 500]
            async with self._sessions() as session:
                named = set(
                    await session.scalars(
                        select(TranscriptionJob.blob_key).where(TranscriptionJob.blob_key.in_(batch))
                    )
                )
            for key in batch:
                if key not in named:
                    await self._host.blobs.delete(key)
                    removed += 1
        return removed

    def _visible(self, principal: Principal) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [TranscriptionJob.tenant_id == principal.tenant_id]
        if not principal.has(PERM_ADMIN):
            conditions.append(TranscriptionJob.user_id == principal.user_id)
        return conditions

    async def _find(self, principal: Principal, job_id: str) -> TranscriptionJob:
        try:
            parsed = uuid.UUID(job_id)
        except ValueError:
            raise ScaiEchoError(NOT_FOUND, "no such transcription job") from None
        async with self._sessions() as session:
            job = await session.scalar(
                select(TranscriptionJob).where(TranscriptionJob.id == parsed, *self._visible(principal))
            )
        if job is None:
            # Another tenant's (or user's) job is indistinguishable from a missing one.
            raise ScaiEchoError(NOT_FOUND, "no such transcription job")
        return job

    async def get(self, principal: Principal, job_id: str) -> TranscriptionJobView:
        return (await self.get_with_segments(principal, job_id))[0]

    async def get_with_segments(
        self, principal: Principal, job_id: str
    ) -> tuple[TranscriptionJobView, list[Segment] | None]:
        """The job's view and, once it is completed, its segments (for the other formats)."""
        job = await self._find(principal, job_id)
        if job.status != JobStatus.COMPLETED:
            return job_view(job), None
        async with self._sessions() as session:
            rows = await session.scalars(
                select(JobSegment).where(JobSegment.job_id == job.id).order_by(JobSegment.seq)
            )
            segments = [row.to_segment() for row in rows]
        return job_view(job, segments), segments

    async def list(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None,
        statuses: frozenset[JobStatus] | None = None,
    ) -> tuple[list[TranscriptionJobView], str | None]:
        if not 1 <= limit <= 100:
            raise ScaiEchoError(VALIDATION_ERROR, "limit must be between 1 and 100", {"field": "limit"})
        query = select(TranscriptionJob).where(*self._visible(principal))
        if statuses:
            query = query.where(TranscriptionJob.status.in_(sorted(statuses)))
        if cursor:
            created, last_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    TranscriptionJob.created_at < created,
                    and_(TranscriptionJob.created_at == created, TranscriptionJob.id < last_id),
                )
            )
        query = query.order_by(TranscriptionJob.created_at.desc(), TranscriptionJob.id.desc()).limit(
            limit + 1
        )
        async with self._sessions() as session:
            rows = list(await session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return [job_view(row) for row in rows], _encode_cursor(rows[-1]) if more else None

    async def cancel(self, principal: Principal, job_id: str) -> TranscriptionJobView:
        """Cancel an unfinished job; delete a finished one's transcript (a tombstone stays)."""
        job = await self._find(principal, job_id)
        if job.status in (JobStatus.CANCELLED, JobStatus.DELETED):
            return job_view(job)
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            return await self._delete_transcript(principal, job)
        if job.status in TERMINAL:
            raise ScaiEchoError(JOB_FINISHED, f"the job is already {job.status}", {"status": job.status})
        async with self._sessions.begin() as session:
            # A queued job is cancelled here; a running one is flagged and its worker stops at
            # the next window boundary, so the engine is released within one window.
            cancelled = await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job.id, TranscriptionJob.status == JobStatus.QUEUED)
                .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=utcnow())
            )
            if cancelled.rowcount:  # type: ignore[attr-defined]
                await arm(session, job.id, JobStatus.CANCELLED)  # a running job's runner arms its own
            else:
                await session.execute(
                    update(TranscriptionJob)
                    .where(TranscriptionJob.id == job.id)
                    .values(cancel_requested=True)
                )
            await self._host.audit.record(
                AuditEvent(
                    principal.tenant_id, principal.user_id, "scaiecho.transcription_job.cancel", str(job.id)
                ),
                session=session,
            )
        if cancelled.rowcount:  # type: ignore[attr-defined]
            await release_audio_hold(self._host.accounting, usage_reference(job.id))
        if cancelled.rowcount and job.blob_key and not self._settings.jobs.keep_audio:  # type: ignore[attr-defined]
            await self._host.blobs.delete(job.blob_key)
            async with self._sessions.begin() as session:
                await session.execute(
                    update(TranscriptionJob).where(TranscriptionJob.id == job.id).values(blob_key=None)
                )
        return job_view(await self._find(principal, job_id))

    async def _delete_transcript(self, principal: Principal, job: TranscriptionJob) -> TranscriptionJobView:
        async with self._sessions.begin() as session:
            # Conditional, so two racing deletes write one tombstone and one audit event.
            deleted = await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job.id, TranscriptionJob.status == job.status)
                .values(
                    status=JobStatus.DELETED, deleted_at=utcnow(), filename="", prompt=None, hotwords=None
                )
            )
            if deleted.rowcount:  # type: ignore[attr-defined]
                await session.execute(delete(JobSegment).where(JobSegment.job_id == job.id))
                # The tombstone and its audit event commit together, or neither does.
                await self._host.audit.record(
                    AuditEvent(
                        principal.tenant_id,
                        principal.user_id,
                        "scaiecho.transcription_job.delete",
                        str(job.id),
                        {"previous_status": job.status},
                    ),
                    session=session,
                )
        if deleted.rowcount and job.blob_key:  # type: ignore[attr-defined]
            await self._host.blobs.delete(job.blob_key)  # kept audio (SCAIECHO_KEEP_JOB_AUDIO) goes too
            async with self._sessions.begin() as session:
                await session.execute(
                    update(TranscriptionJob).where(TranscriptionJob.id == job.id).values(blob_key=None)
                )
        return job_view(await self._find(principal, str(job.id)))


def _encode_cursor(job: TranscriptionJob) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at.isoformat()}|{job.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(cursor) > 200:
            raise ValueError(cursor)
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:  # ours always carry UTC; a naive one cannot be compared
            raise ValueError(created)
        return created_at, uuid.UUID(job_id)
    except (ValueError, UnicodeDecodeError):
        raise ScaiEchoError(
            VALIDATION_ERROR, "cursor is not one this API returned", {"field": "cursor"}
        ) from None
