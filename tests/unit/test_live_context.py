"""Live finals with left context (SCAIECHO_STREAM_CONTEXT): the prompt is the session's own
committed tail, bounded and reset after a loop; a real-speech live transcript stays right."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.base import LiveContext
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.recognizer import PROMPT_CHARS, VadRecognizer, without_prefix
from scaiecho_module.backends.self_hosted import SelfHostedBackend
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.transcript import Delta, Segment, Transcript, Word
from tests.support.text import wer, words
from tests.support.ws import speech_samples
from tests.unit.recognizer_driver import run

CLIPS = ("0870", "0880", "0890", "0920", "0930")


def _speech() -> tuple[AudioArray, str]:
    from tests.support.recordings import librivox

    samples, _ = speech_samples(*CLIPS, gap_seconds=0.8)
    return samples.astype(np.float32) / 32768.0, " ".join(librivox(c).text for c in CLIPS)


@dataclass
class Recorded:
    """Answers each final with ``texts`` in turn and records what the recogniser asked."""

    texts: list[str]
    prompts: list[str | None] = field(default_factory=list)
    lefts: list[float] = field(default_factory=list)

    async def __call__(
        self, audio: AudioArray, priority: Priority, prompt: str | None, left: float, right: float
    ) -> Transcript:
        self.prompts.append(prompt)
        self.lefts.append(left)
        seconds = len(audio) / SAMPLE_RATE
        text = self.texts[min(len(self.prompts), len(self.texts)) - 1]
        return Transcript((Segment(left, seconds - 0.1, text),), "en", 1.0, seconds - left)


async def _unused(audio: AudioArray, priority: Priority) -> Transcript:
    raise AssertionError("a session with context decodes finals through it")


async def test_the_prompt_is_the_sessions_own_committed_tail_bounded() -> None:
    audio, reference = _speech()
    sentences = [s.strip() + "." for s in reference.split(".") if s.strip()]
    ours, theirs = Recorded(sentences), Recorded(["another tenant said this"])
    mine = VadRecognizer(_unused, partials=False, context=ours)
    other = VadRecognizer(_unused, partials=False, context=theirs)
    finals = [d for d in await run(mine, audio) + await mine.finish() if d.is_final]
    await run(other, audio[: 4 * SAMPLE_RATE])
    assert len(finals) == len(CLIPS)
    assert ours.prompts[0] is None  # nothing committed yet
    committed = ""
    for prompt, final in zip(ours.prompts[1:], finals, strict=False):
        committed = f"{committed} {final.text}".strip()
        assert prompt is not None and len(prompt) <= PROMPT_CHARS
        assert committed.endswith(prompt)  # the tail of this session's own finals
        assert "another tenant" not in prompt
    assert max(len(p or "") for p in ours.prompts) > PROMPT_CHARS * 0.8  # the bound was reached
    assert all(0.0 < left <= 1.0 for left in ours.lefts[1:])  # left audio context was sent


async def test_a_looping_final_is_never_a_prompt() -> None:
    audio, _ = _speech()
    script = Recorded(["He was.", "the the the the the the the the the the the the", "Unless.", "Had he."])
    recognizer = VadRecognizer(_unused, partials=False, context=script)
    await run(recognizer, audio)
    assert script.prompts[:4] == [None, "He was.", None, "Unless."]


def test_words_heard_in_the_left_context_are_dropped_and_times_shift() -> None:
    said = [Word(0.1, 0.6, "for", 0.9), Word(0.6, 0.9, "them.", 0.9), Word(1.1, 1.3, "He", 0.9)]
    said += [Word(1.3, 1.6, "was.", 0.9), Word(1.7, 1.9, "Thank", 0.01), Word(1.9, 2.0, "you.", 0.9)]
    transcript = Transcript(
        (Segment(0.1, 2.0, "for them. He was. Thank you.", words=tuple(said)),), "en", 1, 2.1
    )
    kept = without_prefix(transcript, 1.0, True, "to do for them.", 0.0)
    assert kept.text == "He was."  # the prefix's repeat and the doubtful run-on are gone
    assert [(w.word, w.start) for w in kept.segments[0].words] == [("He", 0.1), ("was.", 0.3)]
    assert without_prefix(transcript, 1.0, False, "to do for them.").segments[0].words == ()


def test_a_confident_run_on_with_no_audio_of_its_own_is_dropped() -> None:
    # As tiny.en decoded 0920 with the session's text as the prompt: the run-on's words are
    # probable enough, but the alignment found next to no audio for them.
    said = [Word(0.2, 0.5, "than", 0.99), Word(0.5, 0.7, "he", 0.99), Word(0.7, 1.0, "was.", 1.0)]
    said += [Word(1.0, 1.0, "Thank", 0.0), Word(1.0, 1.0, "you", 0.98), Word(1.0, 1.0, "very", 0.11)]
    said += [Word(1.0, 1.08, "much.", 0.99)]
    transcript = Transcript(
        (Segment(0.2, 1.08, "than he was. Thank you very much.", words=tuple(said)),), "en", 1, 1.3
    )
    assert without_prefix(transcript, 0.0, True).text == "than he was."
    spoken = [Word(1.0, 1.3, "Thank", 0.3), Word(1.3, 1.5, "you", 0.98), Word(1.5, 1.8, "all.", 0.9)]
    kept = Transcript(
        (Segment(0.2, 1.8, "than he was. Thank you all.", words=tuple(said[:3] + spoken)),), "en", 1, 2.0
    )
    assert without_prefix(kept, 0.0, True).text == "than he was. Thank you all."  # spoken: kept


@pytest.fixture(scope="module")
def backend() -> SelfHostedBackend:
    options = WhisperOptions(cpu_threads=1)
    engine = WhisperEngine(resolve_model_dir(SttModelSettings(name="tiny.en")), "whisper-tiny.en", options)
    return SelfHostedBackend(NodePool([InProcessNode("in-process", engine)]), live_context=True)


async def test_a_live_transcript_of_real_speech_with_context_stays_right(backend: SelfHostedBackend) -> None:
    audio, reference = _speech()
    recognizer = await backend.open_stream(
        None, 15.0, LiveContext("t", "s", partials=False, word_timestamps=True)
    )
    deltas: list[Delta] = await run(recognizer, audio, block_seconds=0.5)
    finals = [d for d in deltas + await recognizer.finish() if d.is_final]
    text = " ".join(f.text for f in finals)
    assert wer(reference, text) <= 0.15, text
    assert len(words(text)) <= len(words(reference)) + 2  # no words repeated at the seams
    for final in finals:  # word times stay inside their final, on the stream's clock
        assert final.words and words(" ".join(w.word for w in final.words)) == words(final.text)
        assert final.start - 0.05 <= final.words[0].start and final.words[-1].end <= final.end + 0.05
    assert [f.start for f in finals] == sorted(f.start for f in finals)
