"""Diarization of a whole file on the real two-person call (pyannote sample with its RTTM)."""

from __future__ import annotations

import numpy as np
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from scaiecho_module.engines.diarization import Diarizer
from tests.support import recordings
from tests.support.speakers import conversation_voices, embedder


def test_two_person_call_is_diarized_within_five_percent_der() -> None:
    audio = recordings.read_pcm(recordings.conversation())
    result = Diarizer(embedder()).diarize(audio)
    reference, hypothesis = Annotation(), Annotation()
    reference_turns = recordings.conversation_turns()
    for start, end, speaker in reference_turns:
        reference[Segment(start, end)] = speaker
    for turn in result.turns:
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    assert result.speakers == 2
    assert DiarizationErrorRate(collar=0.25)(reference, hypothesis) <= 0.05
    # Speakers are numbered by first appearance; exclusive turns never overlap.
    assert result.turns[0].speaker == 0
    ends = [t.end for t in result.exclusive]
    assert all(b.start >= a - 1e-6 for a, b in zip(ends, result.exclusive[1:], strict=False))
    # Each centroid is its own person's voice: the person whose reference turns its turns cover
    # most is the person whose voice it is nearest.
    voices = {s: embedder().embed(clips).mean(axis=0) for s, clips in conversation_voices(2.0).items()}
    assert np.allclose(np.linalg.norm(result.centroids, axis=1), 1.0, atol=1e-4)
    owners = []
    for cluster, centroid in enumerate(result.centroids):
        mine = [t for t in result.turns if t.speaker == cluster]
        overlap = {
            person: sum(
                max(0.0, min(t.end, e) - max(t.start, s))
                for t in mine
                for s, e, p in reference_turns
                if p == person
            )
            for person in voices
        }
        owner = max(overlap, key=overlap.__getitem__)
        nearest = max(voices, key=lambda person: float(centroid @ voices[person]))
        assert nearest == owner
        owners.append(owner)
    assert len(set(owners)) == 2
