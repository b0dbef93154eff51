"""Domain objects -> response structs, shared by every transport (jobs: ``jobs/views.py``)."""

from __future__ import annotations

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
