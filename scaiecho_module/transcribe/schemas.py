from __future__ import annotations

import msgspec


class SpeakerView(msgspec.Struct, omit_defaults=True):
    label: str
    id: str | None = None


class SegmentView(msgspec.Struct, omit_defaults=True):
    start: float
    end: float
    text: str
    speaker: SpeakerView | None = None  # omitted, not null, while nothing labels speakers


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
