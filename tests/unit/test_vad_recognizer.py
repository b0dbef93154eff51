"""VadRecognizer: utterances found by the real streaming VAD (Silero ONNX), decoded by a callable."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.recognizer import VadRecognizer
from scaiecho_module.transcript import Segment, Transcript
from tests.unit import synth
from tests.unit.recognizer_driver import Script, run, settle

PAD = 0.2  # the recogniser keeps this much audio around speech
SLACK = 0.1  # the VAD's own latency at a speech boundary: a few 32 ms frames


def _offset_in(stream: np.ndarray, piece: np.ndarray) -> int:
    """Where ``piece`` lies in ``stream`` (it must be an exact slice of it)."""
    first = int(np.flatnonzero(piece)[0])  # silence matches anywhere: anchor on a sound
    for candidate in np.flatnonzero(stream == piece[first]) - first:
        if candidate >= 0 and np.array_equal(stream[candidate : candidate + len(piece)], piece):
            return int(candidate)
    raise AssertionError("not a slice of the stream")


@pytest.mark.parametrize("kind", ["silence", "noise", "tone"])
async def test_audio_without_speech_never_reaches_the_model(kind: str) -> None:
    audio = {"silence": synth.silence, "noise": synth.noise, "tone": synth.tone}[kind](4.0)
    script = Script(partials=["ghost words"])
    recognizer = VadRecognizer(script)
    deltas = await run(recognizer, audio)
    deltas += await recognizer.finish()
    assert deltas == []
    assert script.calls == []


async def test_each_utterance_gets_one_final_covering_its_speech() -> None:
    audio, _ = synth.timeline(
        ("silence", 0.5), ("speech", 2.0), ("silence", 1.0), ("speech", 1.5), ("silence", 1.0)
    )
    script = Script()
    recognizer = VadRecognizer(script, min_silence=0.5)
    deltas = await run(recognizer, audio)
    deltas += await recognizer.finish()
    finals = [d for d in deltas if d.is_final]
    assert [d.text for d in finals] == ["final 1", "final 2"]
    assert finals[0].end <= finals[1].start  # in order, never overlapping
    speech = [(0.5, 2.5), (3.5, 5.0)]
    for decoded, (first, last) in zip(script.audio_of(Priority.LIVE_FINAL), speech, strict=True):
        start = _offset_in(audio, decoded) / SAMPLE_RATE
        end = start + len(decoded) / SAMPLE_RATE
        assert start <= first and end >= last  # the whole utterance, with its padding
        assert start >= first - PAD - SLACK and end <= last + PAD + SLACK  # and not much more
    # Delta times are the segment's times, moved to the session's timeline.
    first_audio = script.audio_of(Priority.LIVE_FINAL)[0]
    first_start = _offset_in(audio, first_audio) / SAMPLE_RATE
    assert finals[0].start == pytest.approx(first_start + 0.1, abs=1e-3)
    assert finals[0].end == pytest.approx(first_start + len(first_audio) / SAMPLE_RATE - 0.1, abs=1e-3)


async def test_a_pause_shorter_than_min_silence_does_not_end_the_utterance() -> None:
    audio, _ = synth.timeline(("speech", 1.5), ("silence", 0.3), ("speech", 1.5), ("silence", 1.0))
    script = Script()
    # Speculation off: the script numbers every final decode, a dropped speculation included.
    recognizer = VadRecognizer(script, min_silence=0.6, speculate=False)
    deltas = await run(recognizer, audio)
    deltas += await recognizer.finish()
    assert [d.text for d in deltas if d.is_final] == ["final 1"]


async def test_a_final_is_decoded_during_the_endpointing_pause_and_used_as_is() -> None:
    audio, _ = synth.timeline(("speech", 1.5), ("silence", 1.0))
    script = Script()
    recognizer = VadRecognizer(script, min_silence=0.6)
    deltas: list = []
    pushed_at_decode: list[int] = []
    pushed = 0
    for block in synth.blocks(audio, 0.05):
        calls = len(script.audio_of(Priority.LIVE_FINAL))
        deltas += await recognizer.push(block)
        pushed += len(block)
        await settle()
        if len(script.audio_of(Priority.LIVE_FINAL)) > calls:
            pushed_at_decode.append(pushed)
    finals = [d for d in deltas if d.is_final]
    assert [d.text for d in finals] == ["final 1"]  # one decode, its result the final
    (decoded,) = script.audio_of(Priority.LIVE_FINAL)
    # Begun a pad after the speech, well before the 0.6 s pause ended it.
    assert pushed_at_decode[0] / SAMPLE_RATE < 1.5 + PAD + 0.3
    assert len(decoded) / SAMPLE_RATE == pytest.approx(1.5 + PAD, abs=SLACK)
    assert finals[0].end == pytest.approx(1.5 + PAD - 0.1, abs=SLACK)


async def test_speech_resuming_after_a_speculation_drops_it_and_the_final_covers_both() -> None:
    audio, _ = synth.timeline(("speech", 1.5), ("silence", 0.4), ("speech", 1.5), ("silence", 1.0))
    script = Script()
    recognizer = VadRecognizer(script, min_silence=0.6)
    deltas = await run(recognizer, audio, block_seconds=0.05)
    deltas += await recognizer.finish()
    finals = [d for d in deltas if d.is_final]
    assert len(finals) == 1
    decodes = script.audio_of(Priority.LIVE_FINAL)
    assert len(decodes) == 2  # the speculation at the 0.4 s pause, then the real end
    assert finals[0].text == "final 2"  # the second decode's: the whole utterance
    assert len(decodes[1]) / SAMPLE_RATE == pytest.approx(3.4 + PAD, abs=2 * SLACK)


async def test_no_speculation_while_behind() -> None:
    audio, _ = synth.timeline(("speech", 1.5), ("silence", 0.4), ("speech", 1.5), ("silence", 1.0))
    script = Script()
    recognizer = VadRecognizer(script, min_silence=0.6)
    deltas = await run(recognizer, audio, block_seconds=0.05, behind=True)
    assert [d.text for d in deltas if d.is_final] == ["final 1"]
    assert len(script.audio_of(Priority.LIVE_FINAL)) == 1


async def test_an_utterance_in_which_no_words_are_found_gets_no_final() -> None:
    audio, _ = synth.timeline(("speech", 1.5), ("silence", 1.0))
    script = Script(final=lambda n: "")
    recognizer = VadRecognizer(script)
    deltas = await run(recognizer, audio)
    assert [d for d in deltas if d.is_final] == []
    assert len(script.audio_of(Priority.LIVE_FINAL)) == 1


async def test_speech_still_open_at_the_end_of_the_stream_becomes_a_final() -> None:
    audio = synth.speech(2.0)
    script = Script()
    recognizer = VadRecognizer(script)
    deltas = await run(recognizer, audio)
    assert [d for d in deltas if d.is_final] == []
    finals = await recognizer.finish()
    assert [d.text for d in finals] == ["final 1"]
    decoded = script.audio_of(Priority.LIVE_FINAL)[0]
    assert _offset_in(audio, decoded) + len(decoded) == len(audio)  # up to the last sample


async def test_a_long_utterance_is_cut_at_a_pause_and_continues_as_the_next() -> None:
    # 3 s, a pause too short to end the utterance, 3 s: longer than chunk_seconds = 4.
    audio, pauses = synth.timeline(("speech", 3.0), ("silence", 0.4), ("speech", 3.0), ("silence", 1.0))
    script = Script()
    recognizer = VadRecognizer(script, chunk_seconds=4.0, min_silence=0.5, speculate=False)
    deltas = await run(recognizer, audio)
    deltas += await recognizer.finish()
    assert [d.text for d in deltas if d.is_final] == ["final 1", "final 2"]
    first, second = script.audio_of(Priority.LIVE_FINAL)
    assert len(first) <= 4 * SAMPLE_RATE
    cut = _offset_in(audio, first) + len(first)
    pause_start, pause_end = pauses[0]
    assert pause_start <= cut <= pause_end  # cut in the pause, not mid-word
    assert _offset_in(audio, second) == cut  # nothing lost or repeated at the cut


async def test_partials_run_while_speech_goes_on_and_cover_the_utterance_so_far() -> None:
    audio = synth.speech(4.0)
    script = Script(partials=["one", "one two", "one two three", "one two three four"])
    recognizer = VadRecognizer(script, partial_interval=1.0)
    deltas = await run(recognizer, audio)
    await recognizer.close()
    partials = [d for d in deltas if not d.is_final]
    assert len(partials) >= 2
    decoded = script.audio_of(Priority.LIVE_PARTIAL)
    assert all(len(b) > len(a) for a, b in itertools.pairwise(decoded))
    assert all(p.start == partials[0].start for p in partials)  # the start of the utterance
    assert [p.end for p in partials] == sorted(p.end for p in partials)


async def test_no_partials_while_the_session_is_behind_or_the_node_is_busy() -> None:
    audio, _ = synth.timeline(("speech", 3.0), ("silence", 1.0))
    for recognizer_kwargs, behind in (({}, True), ({"node_idle": lambda: False}, False)):
        script = Script(partials=["words"])
        recognizer = VadRecognizer(script, **recognizer_kwargs)
        deltas = await run(recognizer, audio, behind=behind)
        assert [d.is_final for d in deltas] == [True]  # finals are never held back
        assert script.audio_of(Priority.LIVE_PARTIAL) == []


async def test_a_partial_that_returns_after_its_utterance_ended_is_dropped() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def transcribe(audio: np.ndarray, priority: Priority) -> Transcript:
        if priority is Priority.LIVE_PARTIAL:
            started.set()
            await release.wait()
            text = "late partial"
        else:
            text = "the final"
        return Transcript(
            (Segment(0.0, len(audio) / SAMPLE_RATE, text),), "en", 1.0, len(audio) / SAMPLE_RATE
        )

    recognizer = VadRecognizer(transcribe, partial_interval=1.0)
    speech, pause = synth.blocks(synth.speech(1.5), 0.25), synth.blocks(synth.silence(1.5), 0.25)
    deltas = [d for block in speech for d in await recognizer.push(block)]
    await settle()
    assert started.is_set()
    for block in pause:
        deltas += await recognizer.push(block)
    assert [d.text for d in deltas] == ["the final"]
    release.set()
    await settle()
    for block in pause:
        deltas += await recognizer.push(block)
    assert [d.text for d in deltas] == ["the final"]
    await recognizer.close()


async def test_closing_the_session_cancels_a_running_partial() -> None:
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def transcribe(audio: np.ndarray, priority: Priority) -> Transcript:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    recognizer = VadRecognizer(transcribe, partial_interval=0.5)
    for block in synth.blocks(synth.speech(1.0), 0.25):
        await recognizer.push(block)
    await settle()
    await asyncio.wait_for(recognizer.close(), 1)
    assert cancelled.is_set()


# -- session controls: Finalize, interim_results, endpointing -----------------------------


async def test_flush_ends_the_utterance_in_progress_as_a_final_and_the_stream_goes_on() -> None:
    audio, _ = synth.timeline(("silence", 0.5), ("speech", 3.0))
    script = Script()
    recognizer = VadRecognizer(script, min_silence=0.5)
    before = await run(recognizer, audio)
    assert [d for d in before if d.is_final] == []  # still talking: no final yet
    flushed = await recognizer.flush()
    assert [(d.text, d.is_final) for d in flushed] == [("final 1", True)]
    assert flushed[0].end <= 3.5 + SLACK
    assert await recognizer.flush() == []  # nothing buffered: a no-op
    # Speech after the flush is a new utterance with its own final.
    after = await run(recognizer, np.concatenate([synth.speech(1.5, seed=7), synth.silence(1.0)]))
    finals = [d for d in after if d.is_final]
    assert [d.text for d in finals] == ["final 2"]
    assert finals[0].start >= flushed[0].end - PAD - SLACK


async def test_flush_on_silence_decodes_nothing() -> None:
    script = Script()
    recognizer = VadRecognizer(script)
    await run(recognizer, synth.silence(1.0))
    assert await recognizer.flush() == []
    assert script.calls == []


async def test_without_partials_none_is_ever_decoded() -> None:
    audio, _ = synth.timeline(("speech", 4.0), ("silence", 1.0))
    script = Script(partials=["words"])
    recognizer = VadRecognizer(script, partial_interval=0.5, partials=False)
    deltas = await run(recognizer, audio)
    assert [d.is_final for d in deltas] == [True]
    assert script.audio_of(Priority.LIVE_PARTIAL) == []


@pytest.mark.parametrize(("min_silence", "finals"), [(0.3, 2), (1.0, 1)])
async def test_the_pause_that_ends_an_utterance_is_the_sessions(min_silence: float, finals: int) -> None:
    audio, _ = synth.timeline(("speech", 1.5), ("silence", 0.6), ("speech", 1.5), ("silence", 1.5))
    recognizer = VadRecognizer(Script(), min_silence=min_silence)
    deltas = await run(recognizer, audio)
    deltas += await recognizer.finish()
    assert sum(d.is_final for d in deltas) == finals


async def test_an_utterances_first_partial_comes_0_7_s_in_then_every_interval() -> None:
    audio, _ = synth.timeline(("silence", 0.5), ("speech", 5.0))
    script = Script(partials=["one", "one two", "one two three"])
    recognizer = VadRecognizer(script, partial_interval=2.0)
    await run(recognizer, audio, block_seconds=0.02)  # 20 ms frames, as clients send
    await recognizer.close()
    lengths = [len(a) / SAMPLE_RATE for a in script.audio_of(Priority.LIVE_PARTIAL)]
    # The utterance starts PAD before the speech: 0.7 s of it is the pad and 0.5 s of speech,
    # give or take the VAD's onset (whole 32 ms frames).
    assert lengths and abs(lengths[0] - 0.7) <= SLACK, lengths
    assert all(abs((b - a) - 2.0) <= SLACK for a, b in itertools.pairwise(lengths)), lengths


async def test_no_partial_starts_once_the_speaker_pauses() -> None:
    # A partial falls due 0.15 s into the pause that ends the utterance: it would hold up the
    # speculative final (due at PAD of silence) on the node, so it is not started.
    audio, pauses = synth.timeline(("silence", 0.5), ("speech", 1.35), ("silence", 1.5))
    speech_end = pauses[1][0] / SAMPLE_RATE
    script = Script(partials=["one", "one two"])
    recognizer = VadRecognizer(script, partial_interval=1.0)
    deltas = await run(recognizer, audio, block_seconds=0.02)
    await recognizer.close()
    started = [0.3 + len(a) / SAMPLE_RATE for a in script.audio_of(Priority.LIVE_PARTIAL)]  # stream time
    assert started and all(at <= speech_end + SLACK for at in started), (started, speech_end)
    assert [d.text for d in deltas if d.is_final] == ["final 1"]


async def test_a_partial_that_loops_is_no_caption() -> None:
    # What a greedy tiny.en decode of 0.5 s of "And Mr. John" gave: Whisper's own loop test
    # (zlib ratio) rejects it, and the next partial is shown instead.
    looping = "and Mr." + " ." * 100
    script = Script(partials=[looping, "and Mr. John"])
    recognizer = VadRecognizer(script, partial_interval=1.0)
    deltas = await run(recognizer, synth.speech(3.0), block_seconds=0.02)
    await recognizer.close()
    assert [d.text for d in deltas if not d.is_final][:1] == ["and Mr. John"]


async def test_speech_in_progress_is_told_to_the_backend_and_silence_is_not() -> None:
    """``on_speech`` is how Backend A knows a live final is coming (a job then slices short)."""
    told: list[float] = []
    recognizer = VadRecognizer(Script(), on_speech=lambda: told.append(0.0))
    for block in synth.blocks(synth.silence(2.0), 0.25):
        await recognizer.push(block)
    assert told == []
    for block in synth.blocks(synth.speech(1.5), 0.25):
        await recognizer.push(block)
    assert len(told) >= 3  # on the blocks of an open utterance, from its first ones
    await recognizer.close()
