"""A job window decoded in slices (jobs/slices.py), on real parts: the tiny.en engine on an
in-process node behind Backend A, real speech, the real pause cut. The slices tile the window,
their segments and words land in window time, each slice is prompted with the text before it,
and an inline request waits for one slice, not for the window."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.base import BackendTranscript, LiveContext
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.priority import Interactive, Priority
from scaiecho_module.backends.self_hosted import SelfHostedBackend
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions, pause_cut
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.jobs.slices import SHORT_SLICE_WINDOW, TAIL_CHARS, Slicing, transcribe_sliced
from scaiecho_module.transcript import DecodeOptions, text_tail
from tests.support import recordings
from tests.support.text import wer


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    options = WhisperOptions(cpu_threads=1, beam_size=1)
    return WhisperEngine(resolve_model_dir(SttModelSettings(name="tiny.en")), "whisper-tiny.en", options)


@pytest.fixture(scope="module")
def speech() -> AudioArray:
    """The first 60 s of the long job speech (five LibriVox sentences and a conversation)."""
    recordings.ensure_recordings()
    path, _ = recordings.long_speech(1)
    pcm = recordings.read_pcm(path).astype(np.float32) / 32768.0
    return pcm[: 60 * SAMPLE_RATE]


@dataclasses.dataclass
class Recorded:
    """Backend A as it is, with each call it passes on noted: the slice and its prompt."""

    backend: SelfHostedBackend
    calls: list[tuple[int, str | None, BackendTranscript]] = dataclasses.field(default_factory=list)
    windows: list[float | None] = dataclasses.field(default_factory=list)  # each call's encoder window
    started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    backend_id: str = "A"

    def available(self) -> bool:
        return self.backend.available()

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> BackendTranscript:  # fmt: skip
        assert priority is Priority.JOB
        self.started.set()
        result = await self.backend.transcribe(audio, language, priority, options)
        self.calls.append((len(audio), options.prompt if options else None, result))
        self.windows.append(options.window_seconds if options else None)
        return result


def test_the_tail_starts_at_a_word_and_the_callers_prompt_comes_first() -> None:
    assert text_tail("short text", TAIL_CHARS) == "short text"
    # The last 10 characters start inside "gamma": the tail starts at the next word.
    assert text_tail("alpha beta gamma delta", chars=10) == "delta"
    assert DecodeOptions(prompt="ScaiGrid").with_context("the last words").prompt == "ScaiGrid the last words"
    assert DecodeOptions().with_context(None).prompt is None


async def test_slices_tile_the_window_and_carry_the_text_before_them(
    engine: WhisperEngine, speech: AudioArray
) -> None:
    node = InProcessNode("a", engine)
    backend = Recorded(SelfHostedBackend(NodePool([node])))
    options = DecodeOptions(word_timestamps=True)
    result = await transcribe_sliced(
        backend, speech, "en", options, Slicing(15.0), pause_cut, tail="Earlier words."
    )

    lengths = [length for length, _, _ in backend.calls]
    assert sum(lengths) == len(speech) and len(lengths) >= 4
    assert all(7.5 * SAMPLE_RATE <= n <= 15 * SAMPLE_RATE for n in lengths[:-1])
    # Each slice is prompted with the text tail of the one before (the first: the window's).
    prompts = [prompt for _, prompt, _ in backend.calls]
    assert prompts[0] == "Earlier words."
    texts = [r.transcript.text for _, _, r in backend.calls]
    for i in range(1, len(prompts)):
        assert prompts[i] == (text_tail(texts[i - 1], TAIL_CHARS) or prompts[i - 1])
    assert any(p != prompts[0] for p in prompts[1:])
    # Segments and their words in window time: slice i's shifted by the slices before it.
    offsets = [0, *itertools.accumulate(lengths)][:-1]
    expected = [
        s.shifted(offset / SAMPLE_RATE)
        for offset, (_, _, r) in zip(offsets, backend.calls, strict=True)
        for s in r.transcript.segments
    ]
    segments = list(result.transcript.segments)
    assert segments == expected
    assert result.transcript.duration_seconds == pytest.approx(60.0)
    assert all(0 <= s.start < s.end <= 60.0 + 0.01 for s in segments)
    assert all(a.start <= b.start for a, b in itertools.pairwise(segments))
    for s in segments:
        assert s.words and all(s.start - 0.01 <= w.start <= w.end <= s.end + 0.01 for w in s.words)
    # The words are right: the same speech as one decode reads it, within the model's wording.
    reference = recordings.long_speech_text(1)
    whole = await SelfHostedBackend(NodePool([node])).transcribe(speech, "en", Priority.JOB)
    sliced_wer, whole_wer = wer(reference, result.transcript.text), wer(reference, whole.transcript.text)
    assert sliced_wer <= max(0.25, whole_wer + 0.05), (sliced_wer, whole_wer, result.transcript.text)
    assert (result.backend_id, result.node_id, result.model) == ("A", "a", "whisper-tiny.en")


async def test_an_inline_request_waits_for_one_slice_not_the_window(
    engine: WhisperEngine, speech: AudioArray
) -> None:
    node = InProcessNode("a", engine)
    backend = Recorded(SelfHostedBackend(NodePool([node])))
    job = asyncio.create_task(
        transcribe_sliced(backend, speech, "en", DecodeOptions(), Slicing(10.0), pause_cut)
    )
    await backend.started.wait()
    inline = await node.transcribe(speech[: 5 * SAMPLE_RATE], "en", Priority.SYNC)
    # The inline request ran between two slices: at most the first one had finished.
    assert inline.text
    assert not job.done() and len(backend.calls) <= 1
    await job
    assert len(backend.calls) >= 6


def test_interactive_work_is_near_for_a_hold_after_its_last_sign() -> None:
    now = [100.0]
    interactive = Interactive(hold=5.0, clock=lambda: now[0])
    assert not interactive.near()  # nothing yet
    interactive.touch()
    now[0] += 4.9
    assert interactive.near()
    now[0] += 0.2
    assert not interactive.near()


async def test_slices_are_short_while_interactive_work_is_near_and_merge_back_when_it_is_not(
    engine: WhisperEngine, speech: AudioArray
) -> None:
    """Near: one piece of at most 10 s, in a window fitted to it. Not near: pieces merge into
    slices of up to 30 s, Whisper's full window. The pieces tile the window either way."""
    backend = Recorded(SelfHostedBackend(NodePool([InProcessNode("a", engine)])))
    near = iter([True, True, False, False, False, False, False, False])
    slicing = Slicing(30.0, 10.0, lambda: next(near))
    result = await transcribe_sliced(backend, speech, "en", DecodeOptions(), slicing, pause_cut)

    lengths = [length for length, _, _ in backend.calls]
    assert sum(lengths) == len(speech)
    assert all(n <= 10 * SAMPLE_RATE for n in lengths[:2]) and backend.windows[:2] == [SHORT_SLICE_WINDOW] * 2
    assert all(n <= 30 * SAMPLE_RATE for n in lengths[2:]) and set(backend.windows[2:]) == {None}
    assert max(lengths[2:]) > 10 * SAMPLE_RATE  # merged: fewer, longer decodes
    # The short slices read their speech (the first 18 s: the LibriVox sentences). Accuracy of
    # a whole mixed run is bench/fairness.py's job WER: one greedy 30 s decode across this
    # file's reading-to-conversation pause can skip the conversation's first words, with or
    # without short slices before it (docs/benchmarks.md).
    early = " ".join(s.text for s in result.transcript.segments if s.end <= 18.0)
    assert wer(recordings.long_speech_text(1)[: len(early)], early) <= 0.25, early
    # A client's prompt keeps Whisper's window even in a short slice (as live decodes do).
    prompted = Recorded(SelfHostedBackend(NodePool([InProcessNode("a", engine)])))
    short = Slicing(30.0, 10.0, lambda: True)
    await transcribe_sliced(
        prompted, speech[: 25 * SAMPLE_RATE], "en", DecodeOptions(prompt="ScaiGrid"), short, pause_cut
    )
    assert len(prompted.windows) >= 3 and set(prompted.windows) == {None}
    # A short slice as long as a slice is none: no fitted window, however near (the 30/30 setting).
    same = Recorded(SelfHostedBackend(NodePool([InProcessNode("a", engine)])))
    await transcribe_sliced(
        same, speech[: 40 * SAMPLE_RATE], "en", DecodeOptions(), Slicing(30.0, 30.0, lambda: True), pause_cut
    )
    assert len(same.windows) == 2 and set(same.windows) == {None}


async def test_a_sync_request_makes_the_job_behind_it_slice_short(
    engine: WhisperEngine, speech: AudioArray
) -> None:
    """Backend A counts its own sync and live work: after an inline request a job's next
    slices are short, so the next request waits for at most 10 s of job audio."""
    inner = SelfHostedBackend(NodePool([InProcessNode("a", engine)]))
    backend = Recorded(inner)
    assert not inner.interactive_near()
    job = asyncio.create_task(
        transcribe_sliced(
            backend, speech, "en", DecodeOptions(), Slicing(30.0, 10.0, inner.interactive_near), pause_cut
        )
    )
    await backend.started.wait()
    inline = await inner.transcribe(speech[: 5 * SAMPLE_RATE], "en", Priority.SYNC)
    assert inline.transcript.text and inner.interactive_near()
    before = len(backend.calls)  # the slice the request waited for (up to 30 s: nothing was near)
    await job
    after = [length for length, _, _ in backend.calls[before + 1 :]]
    assert after and all(n <= 10 * SAMPLE_RATE for n in after)


async def test_a_live_partial_starts_while_only_a_job_slice_is_on_the_node(
    engine: WhisperEngine, speech: AudioArray
) -> None:
    """A partial outranks a job slice: it waits for the slice on the node, not for the job
    to end (before, a running job meant no partials at all)."""
    backend = SelfHostedBackend(NodePool([InProcessNode("a", engine)]))
    done = asyncio.Event()

    async def job() -> None:
        while not done.is_set():  # back to back, as a job's slices are
            await backend.transcribe(speech[20 * SAMPLE_RATE : 30 * SAMPLE_RATE], "en", Priority.JOB)

    running = asyncio.create_task(job())
    recognizer = await backend.open_stream("en", 15.0, LiveContext("t", "s"))
    deltas = []
    live = np.concatenate([speech[: 5 * SAMPLE_RATE], np.zeros(SAMPLE_RATE, np.float32)])
    for start in range(0, len(live), SAMPLE_RATE // 4):
        deltas += await recognizer.push(live[start : start + SAMPLE_RATE // 4])
        await asyncio.sleep(0.25)  # real time: a partial decodes meanwhile
    done.set()
    await running
    await recognizer.close()
    partials = [d for d in deltas if not d.is_final]
    assert partials and any("dashwood" in d.text.lower() for d in deltas), deltas
