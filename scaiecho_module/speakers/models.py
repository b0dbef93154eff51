"""Speaker profiles, their consent records and erasure audits.

The consent record and the erasure audit are evidence: the migration adds triggers that make
the database itself refuse an UPDATE or DELETE on them. A profile is never deleted either:
erasure deletes its recordings and tombstones the row (``erased_at``), so the erasure audit
keeps pointing at something and a second DELETE is a plain 404. No table holds a recording
or an embedding: recordings live in the blob store, embeddings only in speaker nodes' memory.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDAuditBase, UUIDBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from scaiecho_module.jobs.models import utcnow


class EnrollmentStatus(StrEnum):
    PENDING = "pending"  # recorded; no speaker node holds it yet
    READY = "ready"  # at least one speaker node holds the embedding
    FAILED = "failed"  # no node accepted it, or a deferred voice check failed
    EVICTED = "evicted"  # was ready; no node that runs the engine holds it any more


class SpeakerProfile(UUIDAuditBase):
    __tablename__ = "scaiecho_speaker_profile"
    __table_args__ = (
        Index("ix_scaiecho_speaker_tenant_created", "tenant_id", "created_at"),
        # One live profile per name and tenant: two enrollments of the same name race to this.
        Index(
            "uq_scaiecho_speaker_live_name",
            "tenant_id",
            "display_name",
            unique=True,
            sqlite_where=text("erased_at IS NULL"),
            postgresql_where=text("erased_at IS NULL"),
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    language_primary: Mapped[str | None] = mapped_column(String(16), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=EnrollmentStatus.PENDING)
    # Why the status is what it is, for the client: a stable code, never biometric data.
    status_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference_blob_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    consent_blob_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    reference_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    consent_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # The preflight as measured at enrollment (numbers and verdicts, nothing biometric).
    preflight: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    erased_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    erased_by_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ConsentRecord(UUIDBase):
    """What the speaker agreed to, when, and how it was verified. Immutable (trigger)."""

    __tablename__ = "scaiecho_speaker_consent"

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    speaker_id: Mapped[UUID] = mapped_column(ForeignKey("scaiecho_speaker_profile.id"), index=True)
    recorded_by_user_id: Mapped[str] = mapped_column(String(64))
    user_full_name: Mapped[str] = mapped_column(String(200))
    stated_purpose: Mapped[str] = mapped_column(Text)
    consent_text: Mapped[str] = mapped_column(Text)
    # How closely the consent recording's transcript matched consent_text (0..1).
    text_match: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), default=utcnow)


class ErasureAudit(UUIDBase):
    """One GDPR Art. 17 erasure: what was deleted and which nodes evicted. Immutable (trigger)."""

    __tablename__ = "scaiecho_speaker_erasure"

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    speaker_id: Mapped[UUID] = mapped_column(ForeignKey("scaiecho_speaker_profile.id"), index=True)
    actor_user_id: Mapped[str] = mapped_column(String(64))
    blob_bytes_deleted: Mapped[int] = mapped_column(BigInteger)
    evicted_node_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # node id -> error category; such a node is evicted by the reconciler when it returns.
    node_errors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    erased_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), default=utcnow)


IMMUTABLE_TABLES = (ConsentRecord.__tablename__, ErasureAudit.__tablename__)
