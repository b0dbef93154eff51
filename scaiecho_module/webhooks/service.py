"""WebhookService: a job's webhook from submission to its one signed POST.

Durability (a worker restart neither loses nor duplicates a delivery):
- The delivery row commits with the job row at submission (``waiting``), and is armed
  (``pending``, due now) by :func:`arm` in the transaction that gives the job its final
  status: a finished job always has its delivery, and exactly one (one row per job).
- A sender claims a due row with a conditional UPDATE that takes a lease (``locked_until``)
  and counts the attempt, so two processes (a worker right after the job, any process's
  sweep) never send it at once. The outcome commits after the POST.
- A process killed between a receiver's 2xx and that commit leaves the lease to expire and the
  delivery is sent again, with the same ``ScaiEcho-Delivery`` id (at least once, not more in
  any other case): receivers dedupe on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import msgspec
from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scaiecho_module.config import WebhookSettings
from scaiecho_module.errors import NOT_FOUND, ScaiEchoError
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.jobs.models import JobSegment, JobStatus, TranscriptionJob, utcnow
from scaiecho_module.jobs.views import job_view
from scaiecho_module.webhooks.addresses import (
    AddressPolicy,
    AddressRefusedError,
    WebhookTarget,
    check_auth,
    invalid,
    parse_url,
)
from scaiecho_module.webhooks.models import DeliveryState, WebhookDelivery, WebhookSecret
from scaiecho_module.webhooks.signing import SIGNATURE_HEADER, new_secret, signature

logger = logging.getLogger("scaiecho.webhooks")

EVENT_TYPES = {
    JobStatus.COMPLETED: "transcription_job.completed",
    JobStatus.FAILED: "transcription_job.failed",
    JobStatus.CANCELLED: "transcription_job.cancelled",
}
USER_AGENT = "ScaiEcho-Webhook/1"


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a submission asked for: the receiver and its optional ``Authorization`` value."""

    url: str
    auth: str | None = None


class WebhookEvent(msgspec.Struct):
    id: str
    type: str
    data: msgspec.Raw


async def arm(session: AsyncSession, job_id: uuid.UUID, status: JobStatus) -> bool:
    """Make the job's webhook (if it has one) due now; called in the transaction that commits
    the job's final status. Conditional on ``waiting``: a second call changes nothing.
    Whether a delivery was armed."""
    event = EVENT_TYPES.get(status)
    if event is None:
        return False
    armed = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.job_id == job_id, WebhookDelivery.state == DeliveryState.WAITING)
        .values(state=DeliveryState.PENDING, event_type=event, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(armed.rowcount)  # type: ignore[attr-defined]


class WebhookService:
    def __init__(self, host: Host, settings: WebhookSettings) -> None:
        self._host = host
        self._settings = settings
        self._policy = AddressPolicy.of(settings.allow_private, settings.allowed_networks)
        self._sessions = host.database.session_factory
        self._tasks: set[asyncio.Task[None]] = set()

    # -- submission -------------------------------------------------------------------------

    async def validate(self, request: WebhookRequest) -> WebhookRequest:
        """Refuse, as VALIDATION_ERROR on the field, a URL that could never be delivered to."""
        target = parse_url(request.url)
        auth = None if request.auth is None else check_auth(request.auth)
        try:
            await self._policy.resolve(target)
        except AddressRefusedError as refused:
            raise invalid("webhook_url", f"webhook_url is refused: {refused}") from None
        return WebhookRequest(target.url, auth)

    def attach(
        self, session: AsyncSession, job_id: uuid.UUID, tenant_id: str, request: WebhookRequest
    ) -> None:
        """Store the job's webhook in the submission's transaction (with the job row)."""
        session.add(
            WebhookDelivery(
                job_id=job_id, tenant_id=tenant_id, url=request.url, auth=request.auth,
                state=DeliveryState.WAITING, attempts=0,
            )
        )  # fmt: skip

    # -- delivery ---------------------------------------------------------------------------

    def deliver_soon(self, job_id: uuid.UUID) -> None:
        """Try the job's webhook now, beside the caller (a queue task ends without waiting on
        a slow receiver); if this process dies first, a sweep sends it."""
        task = asyncio.create_task(self._deliver_job(job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver_job(self, job_id: uuid.UUID) -> None:
        try:
            async with self._sessions() as session:
                delivery_id = await session.scalar(
                    select(WebhookDelivery.id).where(WebhookDelivery.job_id == job_id)
                )
            if delivery_id is not None:
                await self.attempt(delivery_id)
        except Exception:
            logger.exception("webhook of job %s: the first attempt failed to run; a sweep retries", job_id)

    async def deliver_due(self, limit: int = 50) -> int:
        """One attempt at each due delivery (the periodic sweep). Returns how many were tried."""
        now = utcnow()
        async with self._sessions() as session:
            due = list(
                await session.scalars(
                    select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.state == DeliveryState.PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(limit)
                )
            )
        tried = 0
        for delivery_id in due:
            tried += await self.attempt(delivery_id)
        return tried

    async def attempt(self, delivery_id: uuid.UUID) -> bool:
        """Claim the delivery if it is due and unleased, POST it once, record the outcome."""
        now = utcnow()
        lease = timedelta(seconds=self._settings.timeout_seconds + 30)
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                )
                .values(locked_until=now + lease, attempts=WebhookDelivery.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return False  # not due, done, or another sender holds it
            delivery = await session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))
            assert delivery is not None
            job = await session.scalar(select(TranscriptionJob).where(TranscriptionJob.id == delivery.job_id))
            assert job is not None  # the delivery row goes with its job (ON DELETE CASCADE)
            body = await _event_body(session, delivery, job)
        target = parse_url(delivery.url)
        status, error = await self._post(target, delivery, body)
        await self._record(delivery, job, target, status, error)
        return True

    async def _post(
        self, target: WebhookTarget, delivery: WebhookDelivery, body: bytes
    ) -> tuple[int | None, str | None]:
        try:
            address = await self._policy.resolve(target)
        except AddressRefusedError as refused:
            return None, f"refused: {refused}"
        secret = await self.secret(delivery.tenant_id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            "ScaiEcho-Delivery": str(delivery.id),
            "ScaiEcho-Event": delivery.event_type or "",
        }
        if delivery.auth:
            headers["Authorization"] = delivery.auth
        url = httpx.URL(target.url)
        # The address that passed the check is the one connected to; Host (and TLS's SNI and
        # certificate check) still name the URL's host.
        headers["Host"] = url.netloc.decode("ascii")
        pinned = url.copy_with(host=str(address))
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            # trust_env off: an environment proxy would resolve the host itself, unchecked.
            async with httpx.AsyncClient(
                timeout=self._settings.timeout_seconds, follow_redirects=False, trust_env=False
            ) as client:
                response = await client.post(pinned, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        return response.status_code, None

    async def _record(
        self,
        delivery: WebhookDelivery,
        job: TranscriptionJob,
        target: WebhookTarget,
        status: int | None,
        error: str | None,
    ) -> None:
        attempts = delivery.attempts
        delivered = status is not None and 200 <= status < 300
        # A refused address is not retried: it does not get better by waiting.
        gave_up = not delivered and (
            attempts >= self._settings.max_attempts or (error or "").startswith("refused")
        )
        values: dict[str, object] = {"locked_until": None, "last_status": status, "last_error": error}
        if delivered:
            values |= {"state": DeliveryState.DELIVERED, "delivered_at": utcnow(), "auth": None}
        elif gave_up:
            values |= {"state": DeliveryState.FAILED, "auth": None}
        else:
            delay = self._settings.retry_base_seconds * 2 ** (attempts - 1)
            values["next_attempt_at"] = utcnow() + timedelta(seconds=delay)
        outcome = f"HTTP {status}" if status is not None else error
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )
            if delivered or gave_up:
                # The host only: a URL's path or query may carry the receiver's own token.
                details = {
                    "job_id": str(job.id), "event": delivery.event_type, "host": target.host,
                    "attempts": attempts, "status": status, "error": error,
                }  # fmt: skip
                action = "scaiecho.webhook.delivered" if delivered else "scaiecho.webhook.failed"
                event = AuditEvent(job.tenant_id, job.user_id, action, str(delivery.id), details)
                await self._host.audit.record(event, session=session)
        logger.info(
            "webhook %s (job %s) to %s: attempt %d, %s%s",
            delivery.id, job.id, target.host, attempts, outcome,
            "" if delivered or gave_up else ", will retry",
        )  # fmt: skip

    # -- the tenant's signing secret ----------------------------------------------------------

    async def secret(self, tenant_id: str) -> str:
        """The tenant's signing secret, made on first use."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(WebhookSecret.secret).where(WebhookSecret.tenant_id == tenant_id)
            )
        if found is not None:
            return found
        try:
            async with self._sessions.begin() as session:
                session.add(WebhookSecret(tenant_id=tenant_id, secret=new_secret()))
        except IntegrityError:
            pass  # another request made it first: theirs is the secret
        async with self._sessions() as session:
            made = await session.scalar(
                select(WebhookSecret.secret).where(WebhookSecret.tenant_id == tenant_id)
            )
        if made is None:
            raise ScaiEchoError(NOT_FOUND, "no webhook secret")
        return made

    async def rotate(self, principal: Principal) -> str:
        """A new secret for the tenant: deliveries signed from now on use it (audited)."""
        await self.secret(principal.tenant_id)  # the row exists
        fresh = new_secret()
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebhookSecret)
                .where(WebhookSecret.tenant_id == principal.tenant_id)
                .values(secret=fresh)
            )
            event = AuditEvent(
                principal.tenant_id, principal.user_id, "scaiecho.webhook_secret.rotate", principal.tenant_id
            )
            await self._host.audit.record(event, session=session)
        return fresh


def _secret_of(tenant_id: str) -> Select[str]:
    return select(WebhookSecret.secret).where(WebhookSecret.tenant_id == tenant_id)


async def _event_body(session: AsyncSession, delivery: WebhookDelivery, job: TranscriptionJob) -> bytes:
    """The event, built at each attempt from the job as ``GET /transcribe/jobs/{id}`` shows it."""
    segments = None
    if job.status == JobStatus.COMPLETED:
        rows = await session.scalars(
            select(JobSegment).where(JobSegment.job_id == job.id).order_by(JobSegment.seq)
        )
        segments = [row.to_segment() for row in rows]
    view = msgspec.json.encode(job_view(job, segments))
    event = WebhookEvent(str(delivery.id), delivery.event_type or "", msgspec.Raw(view))
    return msgspec.json.encode(event)
