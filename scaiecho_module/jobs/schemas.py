from __future__ import annotations

from datetime import datetime

import msgspec

from scaiecho_module.transcribe.schemas import SegmentView


class JobErrorView(msgspec.Struct):
    code: str
    message: str


class TranscriptionJobView(msgspec.Struct):
    """A queued transcription. ``transcript`` and ``segments`` are set once it is completed."""

    id: str
    job_id: str
    status: str
    progress: float | None
    processed_seconds: float
    created_at: datetime
    filename: str
    size_bytes: int
    backend_used: str
    attempts: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    language: str | None = None
    model: str | None = None
    node_id: str | None = None
    transcript: str | None = None
    segments: list[SegmentView] | None = None
    error: JobErrorView | None = None


class JobPage(msgspec.Struct):
    data: list[TranscriptionJobView]
    next_cursor: str | None
