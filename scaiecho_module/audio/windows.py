"""Cut a decoded audio stream into windows for long-form transcription, at bounded memory.

Windows end at a pause where one exists (so no word is split between two windows) and never
exceed ``window_seconds``. Window start times are exact sample counts from the start of the
file, which keeps segment timestamps continuous across windows and across resumed attempts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray

# Given a full window and the earliest acceptable cut, return where to cut (a sample index).
CutFinder = Callable[[AudioArray, int], int]


@dataclass(frozen=True, slots=True)
class Window:
    start_sample: int
    audio: AudioArray

    @property
    def start_seconds(self) -> float:
        return self.start_sample / SAMPLE_RATE

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.audio)


def iter_windows(
    blocks: Iterable[AudioArray],
    window_seconds: float,
    find_cut: CutFinder,
    skip_samples: int = 0,
) -> Iterator[Window]:
    max_len = int(window_seconds * SAMPLE_RATE)
    min_len = max_len // 2
    pending: list[AudioArray] = []
    pending_len = 0
    position = 0  # samples of the file before the first pending sample
    to_skip = skip_samples
    for decoded in blocks:
        block = decoded
        if to_skip:
            dropped = min(to_skip, len(block))
            block = block[dropped:]
            to_skip -= dropped
            position += dropped
            if not len(block):
                continue
        pending.append(block)
        pending_len += len(block)
        while pending_len >= max_len:
            audio = np.concatenate(pending)
            cut = max(min_len, min(max_len, find_cut(audio[:max_len], min_len)))
            yield Window(position, audio[:cut])
            rest = audio[cut:]
            position += cut
            pending, pending_len = ([rest] if len(rest) else []), len(rest)
    if pending_len:
        yield Window(position, np.concatenate(pending))
