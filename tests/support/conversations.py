"""Real conversations with reference speaker turns, built from real voices (nothing synthetic).

``three_voices()``: the LibriVox reader's sentence 0880 (in none of the enrollment
recordings of tests/support/speakers.py), a pause, then the pyannote telephone call (two
more people). Reference turns are the reader's sentence and the call's RTTM, shifted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support import recordings, speakers

RATE = 16000
READER = "reader"
GAP_SECONDS = 0.8


def three_voices_pcm() -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    reader = recordings.read_pcm(recordings.librivox("0880").wav)
    call = recordings.read_pcm(recordings.conversation())
    gap = np.zeros(int(GAP_SECONDS * RATE), dtype=np.int16)
    offset = (len(reader) + len(gap)) / RATE
    turns = [(0.0, len(reader) / RATE, READER)]
    turns += [(s + offset, e + offset, who) for s, e, who in recordings.conversation_turns()]
    return np.concatenate([reader, gap, call]), turns


def three_voices(codec: str = "pcm_s16le") -> tuple[Path, list[tuple[float, float, str]]]:
    """The conversation as a WAV (``pcm_s32le``: twice the bytes, to be queued as a job)."""
    samples, turns = three_voices_pcm()
    target = speakers.CACHE / f"three-voices-{codec}.wav"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        recordings.write_audio(samples, target, "wav", codec)
    return target, turns


def speaker91_enrollment() -> tuple[Path, Path, str]:
    """speaker91 of the call: a reference of its single-voice stretches, and its longest turn
    with the STM words it says as the consent (reference, consent, consent text)."""
    call = recordings.read_pcm(recordings.conversation())
    spans = recordings.single_speaker_spans(0.8)["speaker91"]
    gap = np.zeros(RATE // 4, dtype=np.int16)
    parts = [p for s, e in spans for p in (call[int(s * RATE) : int(e * RATE)], gap)]
    target = speakers.CACHE / "speaker91-reference.wav"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        recordings.write_audio(np.concatenate(parts), target, "wav", "pcm_s16le")
    consent, text = speakers.other_voice_consent()
    return target, consent, text


def majority_labels(
    segments: list[dict[str, object]], turns: list[tuple[float, float, str]]
) -> dict[str, dict[str, float]]:
    """Per reference speaker, seconds of their turns covered by each label (None: unlabelled)."""
    cover: dict[str, dict[str, float]] = {}
    for start, end, who in turns:
        for segment in segments:
            s, e = float(segment["start"]), float(segment["end"])  # type: ignore[arg-type]
            shared = min(end, e) - max(start, s)
            if shared > 0:
                label = str(segment.get("speaker_label"))
                cover.setdefault(who, {}).setdefault(label, 0.0)
                cover[who][label] += shared
    return cover


def top(cover: dict[str, float]) -> str:
    return max(cover, key=cover.__getitem__)
