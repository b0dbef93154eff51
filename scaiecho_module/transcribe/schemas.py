from __future__ import annotations

import msgspec


class SegmentView(msgspec.Struct):
    start: float
    end: float
    text: str


class TranscriptionView(msgspec.Struct):
    """A completed transcription, as the sync path returns it (and, later, a finished job)."""

    id: str
    status: str
    transcript: str
    segments: list[SegmentView]
    language: str
    language_probability: float
    duration_seconds: float
    backend_used: str
    model: str
    node_id: str | None = None
