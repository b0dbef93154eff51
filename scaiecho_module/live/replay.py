"""The audio of a live session since its last final.

Two readers need it: failover replays it to the next backend, and the labeller stage takes
the audio of each final (``between``) before it is forgotten. Bounded: at most
``max_seconds`` (older audio is dropped first), so a long stretch without a final costs a
fixed amount.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray


class ReplayBuffer:
    def __init__(self, max_seconds: float = 60.0) -> None:
        self._blocks: deque[AudioArray] = deque()
        self._limit = int(max_seconds * SAMPLE_RATE)
        self.start = 0  # session sample index of the first sample held
        self._end = 0

    def append(self, block: AudioArray) -> None:
        self._blocks.append(block)
        self._end += len(block)
        while self._end - self.start > self._limit and len(self._blocks) > 1:
            self.start += len(self._blocks.popleft())

    def forget_until(self, sample: int) -> None:
        """A final covers the audio up to ``sample``: it never needs replaying."""
        while self._blocks and self.start + len(self._blocks[0]) <= sample:
            self.start += len(self._blocks.popleft())
        if self._blocks and self.start < sample:
            self._blocks[0] = self._blocks[0][sample - self.start :]
            self.start = sample

    def between(self, start: int, end: int) -> AudioArray:
        """Session samples ``start`` to ``end``, as far as they are still held."""
        audio = self.audio()
        return audio[max(0, start - self.start) : max(0, end - self.start)]

    def audio(self) -> AudioArray:
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.float32)
