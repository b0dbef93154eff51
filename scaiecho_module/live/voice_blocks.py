"""A live session's speech embedded while it is spoken, block by block (the labeller's windows).

The labeller (``live/diarize.py``) hears every block of the session's audio. Each
``BLOCK_SECONDS`` of it goes to a speaker node as it comes (windows only, one block in flight
per session), so at a final's end only the audio since the last block is left to embed: a
15 s final used to take 1.2 s of embedding after its end, all of its speech waiting for it.
A final's windows are those whose middle lies inside it, and its voice is their mean.

It is a final's own work, done early, on the session's ``Urgency``: ``SYNC`` while the speech
is spoken, ``LIVE_FINAL`` dated from the final's end once the final waits for it. At
``LIVE_FINAL`` throughout, the blocks held up other sessions' finals; at ``SYNC`` throughout,
they starved behind them and a final then waited for its own block (bench/diarize_live.py,
docs/benchmarks.md). A block the node could not embed (none online, a
failure) is made good at the final's end: the final's audio is then embedded whole. Held
audio and windows not yet in a final are bounded. Embeddings are biometric: never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.node import VoiceWindows, WindowOptions
from scaiecho_module.backends.priority import Urgency
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.transcript import Delta

logger = logging.getLogger(__name__)
Vectors = npt.NDArray[np.float32]

# Audio goes to the speaker node in blocks of this much while it is spoken: a final then
# waits for at most this much (plus a window) of embedding after its end. Shorter blocks mean
# more node calls for the same audio.
BLOCK_SECONDS = 3.0
_WINDOWS = WindowOptions()
# Each block starts this far before the last one ended, so windows keep their step across it.
_OVERLAP = int((_WINDOWS.window - _WINDOWS.step) * SAMPLE_RATE)
# Heard audio held for blocks, and windows not yet in a final, are bounded: past this the
# oldest go, and a final over them is embedded whole at its end.
_HOLD_SECONDS = 30.0
# Windows of finals already labelled are kept this long (a chunk's length) as the context in
# which a later final's local speakers are told apart.
_PAST_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class _Window:
    start: float  # session seconds
    end: float
    vector: Vectors

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


class VoiceBlocks:
    """One diarizing session's heard audio, its blocks on the speaker node, and their windows."""

    def __init__(
        self, fleet: SpeakerFleet, block_seconds: float = BLOCK_SECONDS, urgency: Urgency | None = None
    ) -> None:
        self._fleet = fleet
        self._urgency = urgency or Urgency()
        self._block_samples = int(block_seconds * SAMPLE_RATE)
        self._heard: list[AudioArray] = []  # since ``_cursor``
        self._heard_end = 0  # session sample: heard up to here
        self._cursor = 0  # session sample: sent to the node (or labelled) up to here
        self._before: AudioArray = np.zeros(0, dtype=np.float32)  # the overlap before the cursor
        self._windows: list[_Window] = []  # embedded, not yet in a final
        self._past: list[_Window] = []  # in finals of the last ``_PAST_SECONDS``: context
        self._gap_until = 0  # session sample: a block before here was lost
        self._block: asyncio.Task[None] | None = None

    def hear(self, audio: AudioArray) -> None:
        """The session's next audio (every block, in order): embedded while it is spoken."""
        self._heard.append(audio)
        self._heard_end += len(audio)
        if self._block is not None and not self._block.done():
            if self._heard_end - self._cursor > _HOLD_SECONDS * SAMPLE_RATE:
                self._skip_to(self._heard_end, lost=True)  # the node is that far behind
            return
        if self._heard_end - self._cursor >= self._block_samples:
            begin = self._cursor - len(self._before)
            block = np.concatenate([self._before, *self._heard])
            self._skip_to(self._heard_end)
            self._block = asyncio.create_task(self._embed_block(begin, block))

    def _skip_to(self, sample: int, lost: bool = False) -> None:
        """Nothing before ``sample`` goes into a block any more (``lost``: and it was not embedded)."""
        sample = min(max(sample, self._cursor), self._heard_end)
        if lost:
            self._gap_until = max(self._gap_until, sample)
        held = np.concatenate([self._before, *self._heard])  # from cursor - len(before) to heard_end
        cut = sample - (self._cursor - len(self._before))
        self._before = held[max(0, cut - _OVERLAP) : cut]
        self._heard = [held[cut:]] if cut < len(held) else []
        self._cursor = sample
        oldest = self._heard_end / SAMPLE_RATE - _HOLD_SECONDS
        self._windows = [w for w in self._windows if w.end >= oldest]

    async def _embed_block(self, begin: int, audio: AudioArray) -> None:
        try:
            found = await self._fleet.embed(audio, self._urgency, voice=False)
        except Exception as exc:  # the final's end makes good what a block lost
            logger.warning("a live speaker block went unembedded (%s)", type(exc).__name__)
            found = None
        if found is None:
            self._gap_until = max(self._gap_until, begin + len(audio))
        else:
            self._add(begin / SAMPLE_RATE, found)

    def _add(self, offset: float, found: VoiceWindows) -> None:
        rows = zip(found.starts, found.ends, found.vectors, strict=True)
        self._windows += [_Window(offset + float(s), offset + float(e), v) for s, e, v in rows]

    async def close(self) -> None:
        if self._block is not None:
            self._block.cancel()
            await asyncio.gather(self._block, return_exceptions=True)

    async def windows_of(self, final: Delta, audio: AudioArray) -> VoiceWindows | None:
        """The final's windows (seconds from its start) and their mean as its voice;
        ``None`` when no speaker node is online."""
        in_flight = self._block if self._block is not None and not self._block.done() else None
        start, end = round(final.start * SAMPLE_RATE), round(final.end * SAMPLE_RATE)
        rest_from = max(start, self._cursor - _OVERLAP)
        if self._gap_until > start:  # a block of this final was lost: embed all of it now
            rest_from = start
            self._windows = [w for w in self._windows if w.middle > final.end]
        embed_rest = end > self._cursor or self._gap_until > start
        self._skip_to(end)
        # The rest is asked for beside the block in flight (which holds earlier audio of the
        # final: waited for, not redone): under load each node call waits its turn behind
        # other sessions' finals, and one after the other they would wait twice.
        rest = self._embed_rest(audio, rest_from - start) if embed_rest else None
        try:
            if in_flight is not None:
                await asyncio.wait({in_flight})
                if self._gap_until > start and rest_from > start:  # it failed: all of the final now
                    await _cancelled(rest)
                    rest_from = start
                    self._windows = [w for w in self._windows if w.middle > final.end]
                    rest = self._embed_rest(audio, 0)
            found = None if rest is None else await rest
        except BaseException:  # the session ended: no node call outlives it
            await _cancelled(rest)
            raise
        if rest is not None:
            if found is None:
                return None  # no speaker node online: no label, nothing diarized
            self._add(rest_from / SAMPLE_RATE, found)
        picked: list[_Window] = []
        for window in sorted((w for w in self._windows if final.start <= w.middle <= final.end),
                             key=lambda w: w.start):  # fmt: skip
            # Blocks overlap by a window less a step: a window both cut is kept once.
            if not picked or window.start - picked[-1].start >= _WINDOWS.step / 2:
                picked.append(window)
        self._windows = [w for w in self._windows if w.middle > final.end]
        self._past = [w for w in self._past + picked if w.end >= final.end - _PAST_SECONDS]
        if not picked:
            return VoiceWindows.empty()
        vectors = np.stack([w.vector for w in picked]).astype(np.float32)
        speech = sum(e - s for s, e in union((w.start, w.end) for w in picked))
        return VoiceWindows(
            starts=np.array([w.start - final.start for w in picked], dtype=np.float32),
            ends=np.array([w.end - final.start for w in picked], dtype=np.float32),
            vectors=vectors,
            voice=unit(vectors.sum(axis=0)) if speech >= _WINDOWS.min_voice else None,
        )

    def _embed_rest(self, audio: AudioArray, offset: int) -> asyncio.Task[VoiceWindows | None] | None:
        """The final's audio from sample ``offset`` on, embedded (windows only), as a task;
        ``None`` when it is too short for a window."""
        rest = audio[max(0, offset) :]
        if len(rest) < _WINDOWS.min_window * SAMPLE_RATE:
            return None
        return asyncio.create_task(self._fleet.embed(rest, self._urgency, voice=False))

    def before(self, final: Delta, since: float) -> VoiceWindows:
        """The windows of earlier finals from session time ``since`` up to ``final`` (seconds
        from its start, so negative): context for reading the final's chunks. No ``voice``."""
        found = [w for w in self._past if w.start >= since and w.middle < final.start]
        if not found:
            return VoiceWindows.empty()
        return VoiceWindows(
            starts=np.array([w.start - final.start for w in found], dtype=np.float32),
            ends=np.array([w.end - final.start for w in found], dtype=np.float32),
            vectors=np.stack([w.vector for w in found]).astype(np.float32),
            voice=None,
        )


async def _cancelled(task: asyncio.Task[VoiceWindows | None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def unit(vector: Vectors) -> Vectors:
    """``vector`` at length 1 (a sum of unit vectors: a mean's direction, what cosine reads)."""
    out: Vectors = (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
    return out


def union(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """``spans`` merged where they overlap, in order."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
