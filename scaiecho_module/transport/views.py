"""Domain objects -> response structs, shared by every transport."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Response

from scaiecho_module.engines.stt import SAMPLE_RATE, Segment
from scaiecho_module.errors import JOB_NOT_COMPLETED, ScaiEchoError
from scaiecho_module.jobs.models import JobStatus
from scaiecho_module.jobs.schemas import JobErrorView, TranscriptionJobView
from scaiecho_module.jobs.service import JobDetail
from scaiecho_module.transcribe.schemas import SegmentView, TranscriptionView, WordView
from scaiecho_module.transcribe.service import FileTranscription
from scaiecho_module.transport.formats import MEDIA_TYPES, ResponseFormat, render_text, verbose_json


def segment_view(segment: Segment) -> SegmentView:
    words = [WordView(w.word, w.start, w.end, w.probability) for w in segment.words] or None
    return SegmentView(segment.start, segment.end, segment.text, words)


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


def job_response(detail: JobDetail, fmt: ResponseFormat) -> Response[Any]:
    if fmt is ResponseFormat.JSON:
        return Response({"data": job_view(detail)})
    job = detail.job
    if detail.segments is None:
        raise ScaiEchoError(
            JOB_NOT_COMPLETED,
            f"the job is {job.status}; only a completed job has a transcript to render as {fmt}",
            {"status": job.status},
        )
    text = " ".join(s.text for s in detail.segments).strip()
    return rendered(fmt, None, text, detail.segments, job.language or "", job.duration_seconds or 0.0)


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


def job_view(detail: JobDetail) -> TranscriptionJobView:
    job = detail.job
    processed = job.processed_samples / SAMPLE_RATE
    if job.status == JobStatus.COMPLETED:
        progress: float | None = 1.0
    elif job.status == JobStatus.DELETED:
        progress = None
    elif job.estimated_seconds:
        # The container's duration is an estimate: never claim done before the job is.
        progress = round(min(processed / job.estimated_seconds, 0.99), 4)
    else:
        progress = 0.0 if job.status == JobStatus.QUEUED else None
    segments = None
    transcript = None
    if detail.segments is not None:
        segments = [segment_view(s) for s in detail.segments]
        transcript = " ".join(s.text for s in detail.segments).strip()
    error = JobErrorView(job.error_code, job.error_message or "") if job.error_code else None
    return TranscriptionJobView(
        id=str(job.id),
        job_id=str(job.id),
        status=job.status,
        progress=progress,
        processed_seconds=round(processed, 3),
        created_at=job.created_at,
        filename=job.filename,
        size_bytes=job.size_bytes,
        backend_used=job.backend_used,
        attempts=job.attempts,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=job.duration_seconds,
        language=job.language,
        model=job.model,
        node_id=job.node_id,
        transcript=transcript,
        segments=segments,
        error=error,
    )
