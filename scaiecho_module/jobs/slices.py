"""A job window decoded as short slices, each taking the node's slot on its own.

A window (``SCAIECHO_JOB_WINDOW_SECONDS``, 120 s) decoded in one call holds the in-process
node's priority slot for its whole decode, so an inline request or a live final that
arrives meanwhile waits for all of it (issue 19: 186-217 s for a 44 s file). Slices of at
most ``SCAIECHO_JOB_SLICE_SECONDS`` (30 s, Whisper's own window) release the slot between
them, and the priority semaphore hands it to the most urgent waiter: it waits for one slice.

Slices end at pauses (the same cut as windows), and each is prompted with the text tail of
the slice before it, so Whisper keeps the context it would have had inside one decode.
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


async def transcribe_sliced(
    backend: SttBackend,
    audio: AudioArray,
    language: str | None,
    options: DecodeOptions,
    slice_seconds: float,
    cut: CutFinder,
    tail: str | None = None,
    between: Callable[[], Awaitable[None]] | None = None,
) -> BackendTranscript:
    """``audio`` transcribed slice by slice at job priority: one transcript in ``audio``'s time.

    ``tail`` is the text before ``audio`` (the previous window's); ``between`` runs before
    every slice after the first (the runner checks for a cancel there)."""
    if len(audio) <= int(slice_seconds * SAMPLE_RATE):
        slices = [Window(0, audio)]  # one slice: no cut to look for (a setting >= the window)
    else:  # the VAD of the cuts runs on a worker thread, as the window cuts do
        slices = await anyio.to_thread.run_sync(lambda: list(iter_windows([audio], slice_seconds, cut)))
    results: list[tuple[float, BackendTranscript]] = []
    for index, piece in enumerate(slices):
        if index and between is not None:
            await between()
        result = await backend.transcribe(piece.audio, language, Priority.JOB, options.with_context(tail))
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
