"""Live recognition on Backend A: utterances found by streaming VAD, decoded by a node.

- A *final* delta is emitted as soon as an utterance ends (``min_silence`` of non-speech) or
  reaches ``chunk_seconds`` (then cut at the best pause in it). Finals are never revised.
- While an utterance runs, a *partial* delta is emitted every ``partial_interval`` seconds of
  new audio. Partials follow a stable-prefix policy: words on which two consecutive
  hypotheses agree are committed and never change again within the utterance, so captions
  grow without flicker; only the tail after them may be revised.
- Silence and noise never reach the model (the VAD gates it), so they produce no text.
- ``flush`` (a client's ``Finalize``) ends the utterance in progress as a final at once; the
  session goes on and the next speech starts a new utterance.
- Partials never hold up a final: they run in the background, at most one per session, only
  while the node has nothing else to do and the session is not behind real time. A partial
  that returns after its utterance has ended is dropped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import numpy as np

from scaiecho_module.audio import pcm
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.priority import Priority
from scaiecho_module.engines.stt import pause_cut
from scaiecho_module.engines.vad import FRAME, Event, FrameVad, UtteranceTracker
from scaiecho_module.transcript import Delta, Transcript

Transcriber = Callable[[AudioArray, Priority], Awaitable[Transcript]]
IdleCheck = Callable[[], bool]

_PAD = int(0.2 * SAMPLE_RATE)  # audio kept around speech so first and last words are whole


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _after(committed: list[str], words: list[str]) -> list[str]:
    """The words of a new hypothesis that follow the committed ones.

    Whisper often adds or drops a word before them ("And Mr. John ..." after "Mr. John
    ..."), so the committed words are found by their last few words, at the match nearest
    their own position, not by position alone: splicing by position would repeat or drop
    words at the seam.
    """
    if not committed:
        return words
    normalised = [_norm(w) for w in words]
    for size in (3, 2, 1):
        key = [_norm(w) for w in committed[-size:]]
        ends = [end for end in range(size, len(words) + 1) if normalised[end - size : end] == key]
        if ends:
            return words[min(ends, key=lambda end: abs(end - len(committed))) :]
    return words[len(committed) :]


class VadRecognizer:
    def __init__(
        self,
        transcribe: Transcriber,
        chunk_seconds: float = 15.0,
        partial_interval: float = 1.0,
        min_silence: float = 0.5,
        node_idle: IdleCheck = lambda: True,
        partials: bool = True,
    ) -> None:
        self._transcribe = transcribe
        # No partials wanted (interim_results false): none is ever computed, the node is spared.
        self._node_idle = node_idle if partials else lambda: False
        self._generation = 0  # bumped per utterance: a late partial of an old one is dropped
        self._partial_task: asyncio.Task[None] | None = None
        self._ready: list[Delta] = []
        self._max_utterance = int(chunk_seconds * SAMPLE_RATE)
        self._partial_every = int(partial_interval * SAMPLE_RATE)
        self._vad = FrameVad()
        self._tracker = UtteranceTracker(min_silence=min_silence)
        self._buffer = pcm.empty()
        self._buffer_start = 0  # stream sample index of _buffer[0]
        self._total = 0  # samples received
        self._utterance_start: int | None = None
        self._last_partial_at = 0
        self._committed: list[str] = []
        self._previous: list[str] = []
        self._last_partial_text = ""

    async def push(self, audio: AudioArray, behind: bool = False) -> list[Delta]:
        self._buffer = np.concatenate([self._buffer, audio]) if len(self._buffer) else audio
        self._total += len(audio)
        deltas, self._ready = self._ready, []
        for event, frame in self._tracker.update(self._vad.feed(audio)):
            at = frame * FRAME
            if event is Event.SPEECH_START:
                self._begin(max(at - _PAD, self._buffer_start))
            elif event is Event.NOISE:
                self._utterance_start = None
                self._generation += 1  # a partial of the noise burst must not surface
            elif self._utterance_start is not None:
                deltas += await self._final(self._utterance_start, min(at + _PAD, self._total))
        if self._utterance_start is not None:
            if self._total - self._utterance_start >= self._max_utterance:
                deltas += await self._cut_long_utterance()
            elif self._partial_due(behind):
                self._last_partial_at = self._total
                audio_now = self._audio(self._utterance_start, self._total).copy()
                self._partial_task = asyncio.create_task(
                    self._partial(self._generation, self._utterance_start, self._total, audio_now)
                )
        self._trim()
        return deltas

    def _partial_due(self, behind: bool) -> bool:
        return (
            not behind
            and self._total - self._last_partial_at >= self._partial_every
            and (self._partial_task is None or self._partial_task.done())
            and self._node_idle()
        )

    async def flush(self) -> list[Delta]:
        """Finalize now: the utterance in progress (if any) becomes a final; the stream goes on."""
        deltas, self._ready = self._ready, []
        if self._utterance_start is not None:
            deltas += await self._final(self._utterance_start, self._total)
            # Speech still running after the cut starts a new utterance at its next frame.
            self._tracker.speech_start = None
            self._trim()
        return deltas

    async def finish(self) -> list[Delta]:
        """End of stream: whatever speech is still open becomes a final."""
        deltas: list[Delta] = []
        if self._utterance_start is not None:
            deltas = await self._final(self._utterance_start, self._total)
        await self.close()
        return deltas

    async def close(self) -> None:
        """Session gone: stop any background partial so it stops using the node."""
        if self._partial_task is not None:
            self._partial_task.cancel()
            await asyncio.gather(self._partial_task, return_exceptions=True)

    def _begin(self, start: int) -> None:
        self._generation += 1
        self._utterance_start = start
        self._last_partial_at = start
        self._committed, self._previous, self._last_partial_text = [], [], ""

    def _audio(self, start: int, end: int) -> AudioArray:
        return self._buffer[start - self._buffer_start : end - self._buffer_start]

    async def _final(self, start: int, end: int) -> list[Delta]:
        self._utterance_start = None
        self._generation += 1
        transcript = await self._transcribe(self._audio(start, end), Priority.LIVE_FINAL)
        self._committed, self._previous = [], []
        if not transcript.text:
            return []
        first, last = transcript.segments[0], transcript.segments[-1]
        words = tuple(word for segment in transcript.segments for word in segment.words)
        final = Delta(transcript.text, True, first.start, last.end, words=words)
        return [final.shifted(start / SAMPLE_RATE)]

    async def _cut_long_utterance(self) -> list[Delta]:
        assert self._utterance_start is not None
        start = self._utterance_start
        audio = self._audio(start, self._total)
        cut = start + pause_cut(audio[: self._max_utterance], self._max_utterance // 2)
        deltas = await self._final(start, cut)
        self._begin(cut)  # the speaker is still talking: the rest is a new utterance
        return deltas

    async def _partial(self, generation: int, start: int, end: int, audio: AudioArray) -> None:
        transcript = await self._transcribe(audio, Priority.LIVE_PARTIAL)
        if generation != self._generation:
            return  # the utterance ended (its final is out) while this partial ran
        # Committed words are fixed; only the hypothesis' words after them can be committed,
        # when two consecutive hypotheses agree on them (local agreement on the tail).
        tail = _after(self._committed, transcript.text.split())
        agreed = 0
        while agreed < min(len(tail), len(self._previous)) and _norm(tail[agreed]) == _norm(
            self._previous[agreed]
        ):
            agreed += 1
        self._committed += tail[:agreed]
        self._previous = tail[agreed:]
        text = " ".join(self._committed + self._previous)
        if text and text != self._last_partial_text:
            self._last_partial_text = text
            self._ready.append(Delta(text, False, round(start / SAMPLE_RATE, 3), round(end / SAMPLE_RATE, 3)))

    def _trim(self) -> None:
        """Keep only what an open utterance (or the padding before the next) still needs."""
        keep_from = self._utterance_start if self._utterance_start is not None else self._total - _PAD
        drop = max(0, keep_from - self._buffer_start)
        if drop:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
