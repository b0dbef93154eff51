from __future__ import annotations

import msgspec


class WordView(msgspec.Struct):
    word: str
    start: float
    end: float
    probability: float


class SegmentView(msgspec.Struct, omit_defaults=True):
    start: float
    end: float
    text: str
    # Who spoke (diarize=true): the enrolled profile's display name and id, or a cluster label
    # ``spk_N`` with no id. Omitted, not null, when nothing labelled the segment. The same
    # field names as a live delta's.
    words: list[WordView] | None = None  # only when word timestamps were asked for
    speaker_label: str | None = None
    speaker_id: str | None = None


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
