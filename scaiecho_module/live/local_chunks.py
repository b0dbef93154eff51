"""A diarizing session's audio segmented while it is spoken (segmentation-3.0's local speakers).

Every ``CHUNK_EVERY`` seconds of heard audio, the last ``CHUNK_SECONDS`` of it (the session's
audio before as context) go to a speaker node's segmentation, one chunk in flight per
session, on the session's ``Urgency`` like the rest of a final's work (``voice_blocks.py``).
At a final's end its chunks are ready but for its last seconds: one more chunk, ending at
the final's end, is read (beside the one in flight, if any) when the last one ended more
than ``TAIL_SECONDS`` before it. Reading all of a 15 s final's chunks at its end cost four
lockstep sessions 1.7x their final p95 on the 2-core machine; chunks at ``LIVE_PARTIAL``,
not waited for, came late, and the call's DER went from 7.9 % to 12.1 % at about the same
latency (bench/diarize_live.py, docs/benchmarks.md).

Heard audio and chunks are bounded (``HOLD_SECONDS``). Chunks hold turns, never audio.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.priority import Urgency
from scaiecho_module.live.speaker_changes import CHUNK_SECONDS, Chunk, chunk_spans
from scaiecho_module.speakers.fleet import SpeakerFleet

logger = logging.getLogger(__name__)

# A chunk is read each time this much more audio is heard: a frame lies in three or four
# chunks, and is read in the one where it is farthest from an edge.
CHUNK_EVERY = 3.0
# A final whose end lies more than this after the last chunk's gets a chunk of its own at its end.
TAIL_SECONDS = 0.5
# Heard audio (for chunks' context) and chunks are kept this long: a final is at most
# ``chunk_seconds`` (15 s) and ends a little before the audio heard so far.
HOLD_SECONDS = 40.0


class RecentAudio:
    """The last ``seconds`` of a session's heard audio."""

    def __init__(self, seconds: float) -> None:
        self._limit = int(seconds * SAMPLE_RATE)
        self._pieces: list[AudioArray] = []
        self._held = 0
        self._end = 0  # session sample heard up to

    @property
    def start(self) -> float:
        """Session seconds of the oldest audio held."""
        return (self._end - self._held) / SAMPLE_RATE

    @property
    def end(self) -> float:
        """Session seconds heard up to."""
        return self._end / SAMPLE_RATE

    def hear(self, audio: AudioArray) -> None:
        self._pieces.append(audio)
        self._held += len(audio)
        self._end += len(audio)
        while self._pieces and self._held - len(self._pieces[0]) >= self._limit:
            self._held -= len(self._pieces.pop(0))

    def since(self, seconds: float) -> tuple[float, AudioArray] | None:
        """The held audio from session time ``seconds`` (or from the oldest held, if later)
        and where it starts; ``None`` when nothing is held."""
        if not self._pieces:
            return None
        held_from = self._end - self._held
        first = max(held_from, round(seconds * SAMPLE_RATE))
        audio = np.concatenate(self._pieces)[first - held_from :]
        return first / SAMPLE_RATE, audio

    def between(self, start: float, end: float) -> tuple[float, AudioArray] | None:
        """The held audio from ``start`` (or the oldest held) to ``end``, and where it starts."""
        found = self.since(start)
        if found is None:
            return None
        begin, audio = found
        return begin, audio[: max(0, round((end - begin) * SAMPLE_RATE))]


class LocalChunks:
    """One diarizing session's heard audio and its segmented chunks."""

    def __init__(
        self, fleet: SpeakerFleet, every: float = CHUNK_EVERY, urgency: Urgency | None = None
    ) -> None:
        self._fleet = fleet
        self._urgency = urgency or Urgency()
        self._every = every
        self._recent = RecentAudio(HOLD_SECONDS)
        self._chunks: list[Chunk] = []
        self._next_at = every  # session seconds: the next chunk ends here
        self._task: asyncio.Task[None] | None = None
        self._reading_to = 0.0  # where the chunk being read ends
        self.lost = False  # a chunk the node could not segment: read the final's own chunks

    def hear(self, audio: AudioArray) -> None:
        self._recent.hear(audio)
        if self._recent.end < self._next_at or (self._task is not None and not self._task.done()):
            return
        end = self._recent.end
        self._next_at = end + self._every
        self._reading_to = end
        self._task = asyncio.create_task(self._read(end))

    async def _read(self, end: float) -> None:
        try:
            chunk = await self._segment(max(0.0, end - CHUNK_SECONDS), end)
        except Exception as exc:  # the final's end reads its own chunks instead
            logger.warning("a live segmentation chunk failed (%s)", type(exc).__name__)
            chunk = None
        if chunk is None:
            self.lost = True
            return
        self._chunks = [c for c in self._chunks if c.end >= end - HOLD_SECONDS] + [chunk]

    async def _segment(self, start: float, end: float) -> Chunk | None:
        held = self._recent.between(start, end)
        if held is None:
            return None
        begin, audio = held
        turns = await self._fleet.segment(audio, self._urgency)
        return None if turns is None else Chunk(begin, begin + len(audio) / SAMPLE_RATE, turns)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def alone_audio(self, chunk: Chunk, speaker: int) -> AudioArray:
        """The audio of ``speaker``'s turns alone in ``chunk``, joined (what is still held)."""
        pieces = []
        for turn in chunk.turns:
            if turn.speaker == speaker:
                held = self._recent.between(chunk.start + turn.start, chunk.start + turn.end)
                if held is not None:
                    pieces.append(held[1])
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    async def covering(self, start: float, end: float) -> list[Chunk] | None:
        """The chunks over session seconds ``start``..``end`` (a final), in order of their
        end, the last reaching ``end``; ``None`` when no speaker node segmented them."""
        reading = self._task is not None and not self._task.done()
        latest = max([c.end for c in self._chunks] + [self._reading_to if reading else 0.0])
        # The tail is asked for beside the chunk being read (if any): under load each node
        # call waits its turn behind other sessions' finals, one after the other they wait twice.
        tail = None
        if latest < end - TAIL_SECONDS:
            tail = asyncio.create_task(self._segment(max(0.0, end - CHUNK_SECONDS), end))
        try:
            if reading and self._task is not None:
                await asyncio.wait({self._task})  # it holds the final's audio: wait, do not redo
            last = None if tail is None else await tail
        except BaseException:  # the session ended: no node call outlives it
            if tail is not None:
                tail.cancel()
                await asyncio.gather(tail, return_exceptions=True)
            raise
        if tail is not None and last is None:
            return None  # no node segmented it
        chunks = [c for c in self._chunks if c.end > start and c.start < end]
        if self.lost or not chunks or chunks[0].start > start + TAIL_SECONDS:
            # A chunk was lost, or none reaches the final's start: its own chunks, at its end.
            self.lost = False
            spans = chunk_spans(start, end, self._recent.start)
            found = await asyncio.gather(*(self._segment(a, b) for a, b in spans))
            return None if any(c is None for c in found) else [c for c in found if c is not None]
        return chunks if last is None else [*chunks, last]
