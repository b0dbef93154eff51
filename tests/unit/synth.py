"""Synthetic audio for the unit tests: speech-like vowels, silence and noise, at 16 kHz.

``speech`` is a source-filter vowel synthesiser: a glottal harmonic series with a moving
pitch, shaped by three formants that glide between vowel targets, at a syllable rate of
about 5 per second. Silero VAD scores it as speech (above 0.5 on nearly every frame), where
it scores pure tones and white noise as non-speech, so the real VAD can be driven without
recordings.
"""

from __future__ import annotations

import functools

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray

_VOWELS = np.array(
    [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (640, 1190, 2390)],
    dtype=np.float64,
)
_BANDWIDTHS = np.array([90.0, 110.0, 150.0])
_SYLLABLE = 0.18


def samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


@functools.lru_cache(maxsize=64)
def _speech(n: int, seed: int) -> AudioArray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    syllables = int(np.ceil(n / SAMPLE_RATE / _SYLLABLE)) + 2
    targets = _VOWELS[rng.integers(len(_VOWELS), size=syllables)]
    position = t / _SYLLABLE
    index = np.minimum(position.astype(int), syllables - 2)
    glide = np.clip((position - index - 0.3) / 0.4, 0, 1)[:, None]
    glide = 0.5 - 0.5 * np.cos(np.pi * glide)
    formants = targets[index] * (1 - glide) + targets[index + 1] * glide
    f0 = 120 * (
        1 + 0.12 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6)) + 0.04 * np.sin(2 * np.pi * 2.3 * t)
    )
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    coarse = slice(None, None, 80)  # formants and pitch move slowly: shape them every 5 ms
    f0c, formants_c = f0[coarse], formants[coarse]
    out = np.zeros(n)
    base = np.exp(1j * phase)
    harmonic = base.copy()
    for k in range(1, 60):
        fk = k * f0c
        gain = sum(1 / np.sqrt(1 + ((fk - formants_c[:, j]) / (_BANDWIDTHS[j] / 2)) ** 2) for j in range(3))
        gain = np.repeat(gain * (fk < 7000) / np.sqrt(k), 80)[:n]
        out += gain * harmonic.imag  # sin(k * phase)
        harmonic *= base
    out *= 0.55 - 0.45 * np.cos(2 * np.pi * position)  # syllable envelope
    out += 0.02 * np.abs(out).max() * rng.standard_normal(n)  # a little breath
    audio = (0.3 * out / np.abs(out).max()).astype(np.float32)
    audio.flags.writeable = False
    return audio


def speech(seconds: float, seed: int = 0) -> AudioArray:
    """Speech-like audio (the same for the same arguments)."""
    return _speech(samples(seconds), seed)


def silence(seconds: float) -> AudioArray:
    return np.zeros(samples(seconds), dtype=np.float32)


def noise(seconds: float, level: float = 0.05, seed: int = 0) -> AudioArray:
    return (level * np.random.default_rng(seed).standard_normal(samples(seconds))).astype(np.float32)


def tone(seconds: float, hz: float = 440.0, level: float = 0.3) -> AudioArray:
    t = np.arange(samples(seconds)) / SAMPLE_RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


# 8 phrases of 1.2 s, each followed by a 0.35 s pause: 12.4 s, for windowing and relay pieces.
PHRASES = tuple(part for _ in range(8) for part in (("speech", 1.2), ("silence", 0.35)))


def timeline(*parts: tuple[str, float]) -> tuple[AudioArray, list[tuple[int, int]]]:
    """Concatenate ("speech" | "silence", seconds) parts; also return the pauses as sample spans."""
    pieces, pauses, at = [], [], 0
    for seed, (kind, seconds) in enumerate(parts):
        piece = speech(seconds, seed) if kind == "speech" else silence(seconds)
        if kind == "silence":
            pauses.append((at, at + len(piece)))
        pieces.append(piece)
        at += len(piece)
    return np.concatenate(pieces), pauses


def blocks(audio: AudioArray, seconds: float) -> list[AudioArray]:
    """``audio`` in consecutive blocks of ``seconds`` (the last one may be shorter)."""
    size = samples(seconds)
    return [audio[i : i + size] for i in range(0, len(audio), size)]
