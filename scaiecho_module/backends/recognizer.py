"""Live recognition on Backend A: utterances found by streaming VAD, decoded by a node.

- A *final* delta is emitted as soon as an utterance ends (``min_silence`` of non-speech) or
  reaches ``chunk_seconds`` (then cut at the best pause in it). Finals are never revised.
- While an utterance runs, a *partial* delta is emitted once ``FIRST_PARTIAL`` of it is in
  (a caption starts on its first words), then every ``partial_interval`` seconds of new audio.
  Partials follow a stable-prefix policy: words on which two consecutive hypotheses agree
  are committed and never change again within the utterance, so captions grow without
  flicker; only the tail after them may be revised.
- Silence and noise never reach the model (the VAD gates it), so they produce no text.
- ``flush`` (a client's ``Finalize``) ends the utterance in progress as a final at once; the
  session goes on and the next speech starts a new utterance.
- Partials never hold up a final: they run in the background, at most one per session, only
  while the node has nothing else to do and the session is not behind real time, and none
  starts once the speaker has paused (``_QUIET_FRAMES``): the utterance may be ending, and its
  final's decode would wait for the partial's. A partial that returns after its utterance
  has ended is dropped.
- A final is decoded speculatively (``speculate``) once ``_PAD`` of silence follows the
  speech, while the endpointing pause is still being waited out: the audio a final would
  decode is then already complete (the speech and the pad after it), so when the pause
  holds, the speculative result *is* the final, decoded from the same samples with the same
  prompt, and the decode overlapped the wait instead of following it. Speech that resumes
  makes a later end; the speculation is then dropped (cancelled if it has not started).
- With ``context`` on, each final is decoded with left context, as a file decode has it (a
  2-4 s utterance decoded alone loses words a file decode keeps, most of all in noise): up
  to ``LEFT_CONTEXT`` of the audio before the utterance is decoded with it, and the words
  timed inside that prefix are dropped (they were already final); and the tail of this
  session's own committed finals is Whisper's prompt. The prompt is bounded and is dropped
  after an empty or repetitive final, so one hallucinated loop cannot seed the next.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from scaiecho_module.audio import pcm
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.priority import Priority
from scaiecho_module.engines.stt import pause_cut
from scaiecho_module.engines.vad import FRAME, Event, FrameVad, UtteranceTracker
from scaiecho_module.transcript import Delta, Segment, Transcript, Word, text_tail

IdleCheck = Callable[[], bool]


class Transcriber(Protocol):
    def __call__(self, audio: AudioArray, priority: Priority) -> Awaitable[Transcript]: ...


class ContextTranscriber(Protocol):
    """Decodes ``audio`` whose first ``left`` seconds are context, with the session's earlier
    text as the prompt, and whose last ``right`` seconds are the pad after the speech ended;
    answers through ``without_prefix`` (which needs word times)."""

    def __call__(
        self, audio: AudioArray, priority: Priority, prompt: str | None, left: float, right: float
    ) -> Awaitable[Transcript]: ...


_PAD = int(0.2 * SAMPLE_RATE)  # audio kept around speech so first and last words are whole
# An utterance's first partial is due this far into it: the pad and 0.5 s of speech, a word
# or two (issue 19: first text within 1 s). On 0.3 s tiny.en mostly heard something else
# ("Hari Minh." for "Had he"). Later partials follow every partial_interval.
FIRST_PARTIAL = int(0.7 * SAMPLE_RATE)
# Already-final audio decoded before a final's own (the encoder sees a 30 s window anyway,
# so a second more costs the decode little).
LEFT_CONTEXT = int(1.0 * SAMPLE_RATE)
# A pause this long stops new partials until speech resumes: the speculative final starts
# at _PAD of silence, and a partial begun just before it would hold it up on the node.
_QUIET_FRAMES = 3  # Silero frames, 96 ms
_DOUBT = 0.5  # mean word probability under which words after a sentence's end are dropped
# Mean word length (seconds) under which words after a sentence's end are dropped: spoken words
# take 0.15-0.5 s; a prompted decode's run-on is aligned into what audio is left, often none.
_SQUEEZED = 0.08
_OVERLAP = 6  # committed words a final may repeat from its left context
_ONSET_SLACK = 0.6  # a word ending this far into the prefix's end may still be the final's
# The prompt: the last ~100 characters of committed text. Longer prompts made tiny.en go on
# after the speech more often (bench/live_accuracy.py: 200 characters, 12.7 % WER; 100, 8.5 %).
PROMPT_CHARS = 100
# Whisper's own repetition test: text that zlib compresses this well is a loop ("the the ...").
_REPETITIVE_RATIO = 2.4


async def _awaited(decode: Callable[[], Awaitable[Transcript]]) -> Transcript:
    # The decode's awaitable is made only once this runs: a speculation cancelled before it
    # starts then leaves no coroutine behind that was never awaited.
    return await decode()


def _retrieve(task: asyncio.Task[Transcript]) -> None:
    """A dropped speculation's error is not this session's: read it so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


def repetitive(text: str) -> bool:
    raw = text.encode()
    return len(raw) > 24 and len(raw) / len(zlib.compress(raw)) > _REPETITIVE_RATIO


def _doubted(words: list[Word]) -> bool:
    return sum(w.probability for w in words) / len(words) < _DOUBT


def _squeezed(words: list[Word]) -> bool:
    """Words with next to no audio of their own: the alignment found no speech for them
    ("was. Thank you very much." with the last four words 0.08 s long together)."""
    return sum(w.end - w.start for w in words) / len(words) < _SQUEEZED


def without_prefix(
    transcript: Transcript, left: float, keep_words: bool, history: str = "", right: float = 0.0
) -> Transcript:
    """The transcript of the audio after its first ``left`` seconds, timed from there.

    The prefix's speech is the end of the previous final, so the words that repeat the
    committed text's last words (``history``) at the start are dropped, and so is any word
    ending clearly inside the prefix. Word times alone do not do: Whisper's are loose at an
    onset (tiny.en put a whole "He" before it). A word starting in the last ``right``
    seconds (the pad after the VAD heard the speech end) is not speech either: a prompted
    Whisper likes to go on there ("Thanks for watching!"). Without word times a segment is
    kept when it starts after the prefix.
    """
    tail = [_norm(w) for w in history.split()[-_OVERLAP:]]
    limit = transcript.duration_seconds - right if right else transcript.duration_seconds + 1.0
    kept: list[list[Word]] = []
    plain: list[Segment] = []
    for segment in transcript.segments:
        if segment.words:
            kept.append([w for w in segment.words if w.end > left - _ONSET_SLACK and w.start < limit])
        elif segment.start >= left:
            plain.append(segment)
    # Words after the last sentence end that Whisper itself doubts, or that have next to no
    # audio, are a prompted decode going on past the speech ("... selfish. Thank").
    flat_words = [w for words in kept for w in words]
    ends = [i for i, w in enumerate(flat_words[:-1]) if w.word.endswith((".", "?", "!"))]
    stop = ends[-1] if ends else -1  # the last sentence: the words after the one before it
    doubtful = flat_words[stop + 1 :]
    if stop >= 0 and doubtful and (_doubted(doubtful) or _squeezed(doubtful)):
        drop = {id(w) for w in doubtful}
        kept = [[w for w in words if id(w) not in drop] for words in kept]
    flat = [_norm(w.word) for words in kept for w in words]
    repeat = next((k for k in range(min(len(tail), len(flat)), 0, -1) if flat[:k] == tail[-k:]), 0)
    segments: list[Segment] = []
    for segment, found in zip((s for s in transcript.segments if s.words), kept, strict=True):
        dropped = min(repeat, len(found))
        words, repeat = found[dropped:], repeat - dropped
        if not words:
            continue
        trimmed = segment
        if len(words) < len(segment.words):
            text = re.sub(r"\s+(?=[^\w\s])", "", " ".join(w.word for w in words))  # "old -sposed"
            start = max(segment.start, words[0].start)
            trimmed = replace(segment, start=start, text=text, words=tuple(words))
        segments.append(trimmed if keep_words else replace(trimmed, words=()))
    ordered = sorted(segments + plain, key=lambda s: s.start)
    shifted = tuple(s.shifted(-left) for s in ordered)
    return replace(transcript, segments=shifted, duration_seconds=transcript.duration_seconds - left)


def prompt_tail(history: str, limit: int = PROMPT_CHARS) -> str | None:
    """The last ``limit`` characters of ``history``, starting at a word."""
    return text_tail(history, limit) or None


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
        context: ContextTranscriber | None = None,
        speculate: bool = True,
        on_speech: Callable[[], None] | None = None,
    ) -> None:
        self._transcribe = transcribe
        # Told on every push inside an utterance: a final is coming (the backend's Interactive).
        self._on_speech = on_speech
        self._speculate_finals = speculate
        # ((utterance start, end, pad), its final's decode) begun before the endpointing pause ended.
        self._speculation: tuple[tuple[int, int, int], asyncio.Task[Transcript]] | None = None
        # Finals decode through ``context`` with the session's committed tail as the prompt.
        self._context = context
        self._history = ""  # this session's committed finals (only its own), bounded
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
                end = min(at + _PAD, self._total)
                deltas += await self._final(self._utterance_start, end, max(0, end - at - FRAME))
        if self._utterance_start is not None:
            if self._on_speech is not None:
                self._on_speech()
            if self._total - self._utterance_start >= self._max_utterance:
                deltas += await self._cut_long_utterance()
            elif (key := self._speculation_key(behind)) is not None:
                self._speculate(key)
            elif self._partial_due(behind):
                self._last_partial_at = self._total
                audio_now = self._audio(self._utterance_start, self._total).copy()
                self._partial_task = asyncio.create_task(
                    self._partial(self._generation, self._utterance_start, self._total, audio_now)
                )
        self._trim()
        return deltas

    def _speculation_key(self, behind: bool) -> tuple[int, int, int] | None:
        """(start, end, pad) of the final a SPEECH_END now would decode, once all its audio (the
        speech and the pad after it) is in and it is not already being decoded; else None."""
        speech_end = self._tracker.speech_end
        if not self._speculate_finals or behind or speech_end is None or self._utterance_start is None:
            return None
        # As push() computes a final's span on SPEECH_END at frame ``speech_end``.
        key = (self._utterance_start, speech_end * FRAME + _PAD, _PAD - FRAME)
        if key[1] > self._total or (self._speculation is not None and self._speculation[0] == key):
            return None
        return key

    def _speculate(self, key: tuple[int, int, int]) -> None:
        self._drop_speculation()
        task = asyncio.create_task(self._decode_final(*key, copy=True))
        task.add_done_callback(_retrieve)
        self._speculation = (key, task)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation[1].cancel()  # one already on the node runs out; its result is unused
            self._speculation = None

    def _partial_due(self, behind: bool) -> bool:
        return (
            not behind
            and self._total - self._last_partial_at >= self._partial_every
            and (self._partial_task is None or self._partial_task.done())
            and (self._speculation is None or self._speculation[1].done())  # it says more, sooner
            and self._tracker.quiet_frames < _QUIET_FRAMES
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
        self._drop_speculation()
        if self._partial_task is not None:
            self._partial_task.cancel()
            await asyncio.gather(self._partial_task, return_exceptions=True)

    def _begin(self, start: int) -> None:
        self._generation += 1
        self._utterance_start = start
        # As if a partial had started (interval - FIRST_PARTIAL) before: the first is due sooner.
        self._last_partial_at = start - max(0, self._partial_every - FIRST_PARTIAL)
        self._committed, self._previous, self._last_partial_text = [], [], ""

    def _audio(self, start: int, end: int) -> AudioArray:
        return self._buffer[start - self._buffer_start : end - self._buffer_start]

    def _decode_final(
        self, start: int, end: int, pad: int, copy: bool = False
    ) -> Coroutine[Any, Any, Transcript]:
        """The final's decode, its inputs (audio, prompt) taken now: a speculation may start
        after later pushes have moved the buffer."""
        if self._context is not None:
            left_from = max(self._buffer_start, start - LEFT_CONTEXT)
            prompt, left = prompt_tail(self._history), (start - left_from) / SAMPLE_RATE
            audio = self._audio(left_from, end)
            audio = audio.copy() if copy else audio
            context = self._context
            return _awaited(lambda: context(audio, Priority.LIVE_FINAL, prompt, left, pad / SAMPLE_RATE))
        audio = self._audio(start, end)
        audio = audio.copy() if copy else audio
        return _awaited(lambda: self._transcribe(audio, Priority.LIVE_FINAL))

    async def _final(self, start: int, end: int, pad: int = 0) -> list[Delta]:
        self._utterance_start = None
        self._generation += 1
        spec, self._speculation = self._speculation, None
        if spec is not None and spec[0] == (start, end, pad):
            transcript = await spec[1]  # begun during the pause: same audio, same prompt
        else:
            if spec is not None:
                spec[1].cancel()
            transcript = await self._decode_final(start, end, pad)
        self._committed, self._previous = [], []
        self._remember(transcript.text)
        if not transcript.text:
            return []
        first, last = transcript.segments[0], transcript.segments[-1]
        words = tuple(word for segment in transcript.segments for word in segment.words)
        final = Delta(transcript.text, True, first.start, last.end, words=words)
        return [final.shifted(start / SAMPLE_RATE)]

    def _remember(self, text: str) -> None:
        # An empty final (noise, a dropped hallucination) or a looping one breaks the thread:
        # the next final starts without a prompt rather than from a bad one.
        if not text or repetitive(text):
            self._history = ""
        else:
            self._history = f"{self._history} {text}".strip()[-2 * PROMPT_CHARS :]

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
        if repetitive(transcript.text):
            return  # a greedy decode looping ("and Mr. . . . ."): no caption, the next one will do
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
        if self._context is not None:
            keep_from -= LEFT_CONTEXT  # the next final's left context
        drop = max(0, keep_from - self._buffer_start)
        if drop:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
