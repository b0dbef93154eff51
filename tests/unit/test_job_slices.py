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
from scaiecho_module.backends.base import BackendTranscript
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.self_hosted import SelfHostedBackend
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions, pause_cut
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.jobs.slices import TAIL_CHARS, transcribe_sliced
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
    result = await transcribe_sliced(backend, speech, "en", options, 15.0, pause_cut, tail="Earlier words.")

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
    job = asyncio.create_task(transcribe_sliced(backend, speech, "en", DecodeOptions(), 10.0, pause_cut))
    await backend.started.wait()
    inline = await node.transcribe(speech[: 5 * SAMPLE_RATE], "en", Priority.SYNC)
    # The inline request ran between two slices: at most the first one had finished.
    assert inline.text
    assert not job.done() and len(backend.calls) <= 1
    await job
    assert len(backend.calls) >= 6
