"""A transcription job's row -> the view every transport returns (built by ``JobService``).

The service hands out views, not rows: a transport never holds an ORM object (no lazy load
after the session closed, no ``isinstance`` on a model class), as ``PolicyService.view`` does
for the tenant policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.jobs.models import JobStatus, TranscriptionJob
from scaiecho_module.jobs.schemas import JobErrorView, TranscriptionJobView
from scaiecho_module.transcribe.schemas import SegmentView, WordView
from scaiecho_module.transcript import Segment


def segment_view(segment: Segment) -> SegmentView:
    """One segment as every transport shows it: speaker and words only when it has them."""
    speaker = segment.speaker
    label, speaker_id = (None, None) if speaker is None else (speaker.label, speaker.id)
    words = [WordView(w.word, w.start, w.end, w.probability) for w in segment.words] or None
    return SegmentView(segment.start, segment.end, segment.text, words, label, speaker_id)


def job_view(job: TranscriptionJob, segments: Sequence[Segment] | None = None) -> TranscriptionJobView:
    """A job as every transport returns it; ``segments`` once it is completed."""
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
    views = None
    transcript = None
    if segments is not None:
        views = [segment_view(s) for s in segments]
        transcript = " ".join(s.text for s in segments).strip()
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
        segments=views,
        error=error,
    )
