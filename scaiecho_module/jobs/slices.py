"""A job window decoded as short slices, each taking the node's slot on its own.

A window (``SCAIECHO_JOB_WINDOW_SECONDS``, 120 s) decoded in one call holds the in-process
node's priority slot for its whole decode, so an inline request or a live final that
arrives meanwhile waits for all of it (issue 19: 186-217 s for a 44 s file). Slices of at
most ``SCAIECHO_JOB_SLICE_SECONDS`` (30 s, Whisper's own window) release the slot between
them, and the priority semaphore hands it to the most urgent waiter: it waits for one slice.

Slices end at pauses (the same cut as windows), and each is prompted with the text tail of
the slice before it, so Whisper keeps the context it would have had inside one decode.

While interactive work is near (``SttBackend.interactive_near``: a live utterance in progress,
an inline request a moment ago), a slice is one piece of at most
``SCAIECHO_JOB_SHORT_SLICE_SECONDS`` (10 s), encoded in a window fitted to it: a live final
then waits for a fraction of a second of job work, not for a 30 s decode. When nothing
interactive is about, consecutive pieces merge back into slices of up to 30 s (fewer encoder
passes: a job's own throughput). The window is cut into pieces once, at pauses; the choice
between one piece and several is made before each decode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import anyio.to_thread

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.audio.windows import CutFinder, Window, iter_windows
from scaiecho_module.backends.base import BackendTranscript, SttBackend
from scaiecho_module.backends.priority import Priority
from scaiecho_module.transcript import DecodeOptions, text_tail

# How much earlier text a slice is prompted with: Whisper reads at most 223 prompt tokens;
# some 40 words carry the topic and the spelling without crowding out the caller's prompt.
TAIL_CHARS = 200
# A short slice's encoder window: at least this, fitted to the slice (engines/stt.py), as live
# decodes are; with a client's prompt or hotwords a slice keeps Whisper's full 30 s window.
SHORT_SLICE_WINDOW = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class Slicing:
    """How a window is sliced: ``seconds`` at most while nothing interactive is near,
    ``short_seconds`` while ``near()`` says it is (None, or not under ``seconds``: never
    shorter, and never a fitted window)."""

    seconds: float
    short_seconds: float | None = None
    near: Callable[[], bool] = lambda: False

    @property
    def piece_seconds(self) -> float:
        """What a window is cut into: the shortest slice there may be."""
        return min(self.seconds, self.short_seconds or self.seconds)

    def short_now(self) -> bool:
        return self.piece_seconds < self.seconds and self.near()


async def transcribe_sliced(
    backend: SttBackend,
    audio: AudioArray,
    language: str | None,
    options: DecodeOptions,
    slicing: Slicing,
    cut: CutFinder,
    tail: str | None = None,
    between: Callable[[], Awaitable[None]] | None = None,
) -> BackendTranscript:
    """``audio`` transcribed slice by slice at job priority: one transcript in ``audio``'s time.

    ``tail`` is the text before ``audio`` (the previous window's); ``between`` runs before
    every slice after the first (the runner checks for a cancel there)."""
    results: list[tuple[float, BackendTranscript]] = []
    longest = int(slicing.seconds * SAMPLE_RATE)
    windowed = not (options.prompt or options.hotwords)  # as live decodes: a client's prompt keeps 30 s
    pieces = await _pieces(audio, slicing, cut)
    index = 0
    while index < len(pieces):
        if index and between is not None:
            await between()
        short = slicing.short_now()
        end = index + 1
        while (
            not short and end < len(pieces) and pieces[end].end_sample - pieces[index].start_sample <= longest
        ):
            end += 1
        # Consecutive pieces tile ``audio``: their slice is a view of it, not a copy.
        start, stop = pieces[index].start_sample, pieces[end - 1].end_sample
        piece = Window(start, audio[start:stop]) if end > index + 1 else pieces[index]
        index = end
        decode = options.with_context(tail)
        if short and windowed:
            decode = dataclasses.replace(decode, window_seconds=SHORT_SLICE_WINDOW)
        result = await backend.transcribe(piece.audio, language, Priority.JOB, decode)
        results.append((piece.start_seconds, result))
        tail = text_tail(result.transcript.text, TAIL_CHARS) or tail
    if not results:  # no audio: one call, as an unsliced window would make
        return await backend.transcribe(audio, language, Priority.JOB, options)
    segments = tuple(s.shifted(offset) for offset, r in results for s in r.transcript.segments)
    # The language of the first slice that heard speech (Whisper detects it per decode).
    spoken = next((r for _, r in results if r.transcript.segments), results[0][1])
    transcript = dataclasses.replace(
        spoken.transcript, segments=segments, duration_seconds=round(len(audio) / SAMPLE_RATE, 3)
    )
    return dataclasses.replace(results[-1][1], transcript=transcript)


async def _pieces(audio: AudioArray, slicing: Slicing, cut: CutFinder) -> list[Window]:
    """``audio`` cut at pauses into pieces of at most the shortest slice."""
    step = slicing.piece_seconds
    if len(audio) <= int(step * SAMPLE_RATE):
        return [Window(0, audio)]  # one piece: no cut to look for (a setting >= the window)
    # The VAD of the cuts runs on a worker thread, as the window cuts do.
    return await anyio.to_thread.run_sync(lambda: list(iter_windows([audio], step, cut)))
