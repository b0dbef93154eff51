from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.base import UUIDAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

# The job table first: job_id takes its column type from the foreign key's target, which must
# be known when this table is mapped (else job_id reads back as raw bytes).
from scaiecho_module.jobs.models import TranscriptionJob


class DeliveryState(StrEnum):
    WAITING = "waiting"  # the job has not finished yet
    PENDING = "pending"  # armed: due at next_attempt_at
    DELIVERED = "delivered"  # a 2xx answered
    FAILED = "failed"  # every attempt failed


class WebhookDelivery(UUIDAuditBase):
    """The webhook of one job: stored with the job at submission, armed in the transaction that
    gives the job its final status, so a delivery is neither lost nor made twice."""

    __tablename__ = "scaiecho_webhook_delivery"
    __table_args__ = (Index("ix_scaiecho_webhook_due", "state", "next_attempt_at"),)

    job_id: Mapped[UUID] = mapped_column(ForeignKey(TranscriptionJob.id, ondelete="CASCADE"), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    # The caller's Authorization value for its receiver: a secret, cleared once the delivery
    # ends, never shown or logged.
    auth: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.WAITING)
    event_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # A sender's lease: another process does not send while it holds one (one POST at a time).
    locked_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class WebhookSecret(UUIDAuditBase):
    """A tenant's signing secret: made on first use, replaced by a rotation."""

    __tablename__ = "scaiecho_webhook_secret"

    tenant_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(100))
