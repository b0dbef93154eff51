"""Drive a real VadRecognizer with synthetic audio and a scripted transcribe function."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.recognizer import VadRecognizer
from scaiecho_module.transcript import Delta, Segment, Transcript
from tests.unit import synth


@dataclass
class Script:
    """A transcribe function: partials answer from ``partials`` in turn, finals with ``final``.

    Each answer is one segment from 0.1 s to 0.1 s before the end of the audio it was given.
    """

    partials: list[str] = field(default_factory=list)
    final: Callable[[int], str] = lambda n: f"final {n}"
    calls: list[tuple[Priority, AudioArray]] = field(default_factory=list)

    async def __call__(self, audio: AudioArray, priority: Priority) -> Transcript:
        self.calls.append((priority, audio.copy()))
        if priority is Priority.LIVE_PARTIAL:
            n = sum(1 for p, _ in self.calls if p is Priority.LIVE_PARTIAL)
            text = self.partials[min(n, len(self.partials)) - 1] if self.partials else ""
        else:
            text = self.final(sum(1 for p, _ in self.calls if p is Priority.LIVE_FINAL))
        seconds = len(audio) / SAMPLE_RATE
        segments = (Segment(0.1, round(seconds - 0.1, 3), text),) if text else ()
        return Transcript(segments, "en", 1.0, seconds)

    def audio_of(self, priority: Priority) -> list[AudioArray]:
        return [audio for p, audio in self.calls if p is priority]


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def run(
    recognizer: VadRecognizer, audio: np.ndarray, block_seconds: float = 0.25, behind: bool = False
) -> list[Delta]:
    """Push ``audio`` in real-time-sized blocks, letting background partials finish between them."""
    deltas: list[Delta] = []
    for block in synth.blocks(audio, block_seconds):
        deltas += await recognizer.push(block, behind)
        await settle()
    return deltas
