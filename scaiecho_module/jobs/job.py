"""What the job service hands out: a transcription job as a value, detached from its row.

Transports encode these and never see an ORM row (no lazy load after the session closed, no
``isinstance`` on a model class). The row-to-value copy is in one place, :meth:`Job.of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scaiecho_module.jobs.models import JobSegment, JobStatus, TranscriptionJob
from scaiecho_module.transcript import Segment


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    status: JobStatus
    filename: str
    size_bytes: int
    backend_used: str
    attempts: int
    processed_samples: int
    created_at: datetime
    estimated_seconds: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    language: str | None = None
    model: str | None = None
    node_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def of(cls, row: TranscriptionJob) -> Job:
        return cls(
            id=str(row.id),
            status=JobStatus(row.status),
            filename=row.filename,
            size_bytes=row.size_bytes,
            backend_used=row.backend_used,
            attempts=row.attempts,
            processed_samples=row.processed_samples,
            created_at=row.created_at,
            estimated_seconds=row.estimated_seconds,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_seconds=row.duration_seconds,
            language=row.language,
            model=row.model,
            node_id=row.node_id,
            error_code=row.error_code,
            error_message=row.error_message,
        )


@dataclass(frozen=True, slots=True)
class JobDetail:
    """A job, with its transcript's segments once it is completed (``None`` before)."""

    job: Job
    segments: tuple[Segment, ...] | None = None


def segment_of(row: JobSegment) -> Segment:
    return Segment(row.start, row.end, row.text)
