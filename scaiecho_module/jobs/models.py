from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scaiecho_module.transcript import Segment, Speaker, Word


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # A finished job whose transcript its owner deleted: the row stays as a tombstone.
    DELETED = "deleted"


def utcnow() -> datetime:
    return datetime.now(UTC)


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DELETED})


class TranscriptionJob(UUIDAuditBase):
    """One queued transcription: audio in the blob store until the job ends, text in the end."""

    __tablename__ = "scaiecho_transcription_job"
    __table_args__ = (Index("ix_scaiecho_job_owner_created", "tenant_id", "user_id", "created_at"),)

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    language_hint: Mapped[str | None] = mapped_column(String(8), nullable=True)
    backend_used: Mapped[str] = mapped_column(String(1))
    node_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    estimated_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Progress is persisted per window: a retried attempt resumes here instead of starting over.
    processed_samples: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the caller asked of the decode, applied to every window (see DecodeOptions).
    word_timestamps: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Speaker labels asked for (checked against scaiecho:diarize at submission).
    diarize: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    hotwords: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    metered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class JobSegment(UUIDAuditBase):
    """A transcript segment of a job, written window by window."""

    __tablename__ = "scaiecho_job_segment"
    __table_args__ = (Index("ix_scaiecho_job_segment_order", "job_id", "seq", unique=True),)

    job_id: Mapped[UUID] = mapped_column(ForeignKey("scaiecho_transcription_job.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    # [[start, end, word, probability], ...] in file time; null unless word times were asked for.
    words: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # Who spoke, as labelled when the window was transcribed (diarize=true). Kept as written:
    # a later erasure of the speaker does not rewrite a finished transcript (spec).
    speaker_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    speaker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @classmethod
    def of(cls, job_id: UUID, seq: int, segment: Segment) -> JobSegment:
        words = [[w.start, w.end, w.word, w.probability] for w in segment.words] or None
        speaker = segment.speaker
        return cls(
            job_id=job_id, seq=seq, start=segment.start, end=segment.end, text=segment.text, words=words,
            speaker_label=None if speaker is None else speaker.label,
            speaker_id=None if speaker is None else speaker.id,
        )  # fmt: skip

    def to_segment(self) -> Segment:
        words = tuple(Word(float(a), float(b), str(w), float(p)) for a, b, w, p in self.words or ())
        speaker = None if self.speaker_label is None else Speaker(self.speaker_label, self.speaker_id)
        return Segment(self.start, self.end, self.text, speaker, words)
