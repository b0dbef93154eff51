"""Domain objects -> response structs, shared by every transport (jobs: ``jobs/views.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Response

from scaiecho_module.errors import JOB_NOT_COMPLETED, ScaiEchoError
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.jobs.views import segment_view
from scaiecho_module.transcribe.schemas import TranscriptionView
from scaiecho_module.transcribe.service import FileTranscription
from scaiecho_module.transcript import Segment
from scaiecho_module.transport.formats import MEDIA_TYPES, ResponseFormat, render_text, verbose_json

__all__ = ["job_response", "rendered", "segment_view", "transcription_response", "transcription_view"]


def transcription_view(done: FileTranscription) -> TranscriptionView:
    transcript = done.result.transcript
    return TranscriptionView(
        id=done.request_id,
        status="completed",
        transcript=transcript.text,
        segments=[segment_view(s) for s in transcript.segments],
        language=transcript.language,
        language_probability=round(transcript.language_probability, 4),
        duration_seconds=round(transcript.duration_seconds, 3),
        backend_used=done.result.backend_id,
        model=done.result.model,
        node_id=done.result.node_id,
    )


def rendered(
    fmt: ResponseFormat,
    envelope: Any,
    text: str,
    segments: Sequence[Segment],
    language: str,
    duration: float,
) -> Response[Any]:
    """One finished transcript in the caller's format; ``envelope`` is the JSON answer."""
    if fmt is ResponseFormat.JSON:
        return Response({"data": envelope})
    if fmt is ResponseFormat.VERBOSE_JSON:
        return Response(verbose_json(text, segments, language, duration))
    return Response(render_text(fmt, text, segments), media_type=MEDIA_TYPES[fmt])


def transcription_response(done: FileTranscription, fmt: ResponseFormat) -> Response[Any]:
    transcript = done.result.transcript
    return rendered(
        fmt,
        transcription_view(done),
        transcript.text,
        transcript.segments,
        transcript.language,
        transcript.duration_seconds,
    )


def job_response(
    view: TranscriptionJobView, segments: list[Segment] | None, fmt: ResponseFormat
) -> Response[Any]:
    if fmt is ResponseFormat.JSON:
        return Response({"data": view})
    if segments is None:
        raise ScaiEchoError(
            JOB_NOT_COMPLETED,
            f"the job is {view.status}; only a completed job has a transcript to render as {fmt}",
            {"status": view.status},
        )
    text = view.transcript or ""
    return rendered(fmt, None, text, segments, view.language or "", view.duration_seconds or 0.0)
