"""What the tools return: pydantic models, because the MCP SDK derives each tool's declared
output schema from them. Each mirrors a REST view (``transport/views.py``) and is filled from
it; ``extra="forbid"`` makes a field added to a view and not here fail loudly in the tests
instead of vanishing from MCP answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentOut(_Strict):
    start: float = Field(description="Start time in seconds from the beginning of the audio")
    end: float = Field(description="End time in seconds")
    text: str
    speaker_label: str | None = Field(
        default=None,
        description="With diarize: the enrolled speaker's name, or spk_0, spk_1, ... for unknown voices",
    )
    speaker_id: str | None = Field(
        default=None, description="With diarize: the enrolled speaker's id, if matched"
    )


class TranscribeOut(_Strict):
    """A finished transcription, or (audio over the inline threshold) the queued job to poll."""

    status: Literal["completed", "queued"] = Field(
        description="completed: the transcript is here. queued: poll get_transcription_job with job_id"
    )
    id: str = Field(description="The transcription's id (its usage reference), or the job's id when queued")
    job_id: str | None = Field(description="Set when queued: pass it to get_transcription_job")
    transcript: str | None = Field(description="The whole text; null while queued")
    segments: list[SegmentOut] | None = Field(description="Timed segments; null while queued")
    language: str | None = Field(description="Detected (or hinted) language code; null while queued")
    duration_seconds: float | None = Field(description="Decoded audio length; null while queued")
    backend_used: str = Field(description="A (self-hosted nodes) or B (managed relay)")
    model: str | None = Field(description="The model that transcribed it; null while queued")


class JobErrorOut(_Strict):
    code: str
    message: str


class JobOut(_Strict):
    """A transcription job, as GET /transcribe/jobs/{job_id} shows it."""

    id: str
    job_id: str
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    progress: float | None = Field(description="0 to 1; 1 only once completed")
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
    transcript: str | None = Field(default=None, description="Set once completed")
    segments: list[SegmentOut] | None = Field(default=None, description="Set once completed")
    error: JobErrorOut | None = Field(default=None, description="Set when failed: a stable code")


class SpeakerOut(_Strict):
    speaker_id: str
    display_name: str


class SpeakerListOut(_Strict):
    """The tenant's enrolled speakers, newest first: names and ids only (no recordings,
    consent or voice data)."""

    speakers: list[SpeakerOut]
    next_cursor: str | None = Field(description="Pass it as cursor for the next page; null on the last")
