"""Domain objects -> response structs, shared by every transport."""

from __future__ import annotations

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.jobs.job import JobDetail
from scaiecho_module.jobs.models import JobStatus
from scaiecho_module.jobs.schemas import JobErrorView, TranscriptionJobView
from scaiecho_module.transcribe.schemas import SegmentView, SpeakerView, TranscriptionView
from scaiecho_module.transcribe.service import FileTranscription
from scaiecho_module.transcript import Segment


def segment_view(segment: Segment) -> SegmentView:
    speaker = segment.speaker
    view = None if speaker is None else SpeakerView(speaker.label, speaker.id)
    return SegmentView(segment.start, segment.end, segment.text, view)


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
        id=job.id,
        job_id=job.id,
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
