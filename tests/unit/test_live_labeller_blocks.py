"""The live labeller embeds a session's speech while it is spoken, block by block, so at a
final's end only the audio since the last block is left to embed; a block the node could not
embed is made good at the final's end. Real parts: tiny.en for the final's words, CAM++ on
the in-process node, the two real voices of tests/support/two_voices.py."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pytest

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.priority import Priority, Rank, Urgency
from scaiecho_module.config import SttModelSettings
from scaiecho_module.engines.speaker_embedding import VoiceWindows
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import resolve_model_dir
from scaiecho_module.live.diarize import BLOCK_SECONDS, SessionLabeller
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.naming import SpeakerNamer
from scaiecho_module.speakers.store import SpeakerStore
from scaiecho_module.transcript import DecodeOptions, Delta
from tests.support import recordings, two_voices
from tests.support.speakers import embedder

RATE = 16000
FRAME = 320  # 20 ms, as clients send


@pytest.fixture(scope="module")
def stt() -> WhisperEngine:
    options = WhisperOptions(cpu_threads=1, beam_size=1)
    return WhisperEngine(resolve_model_dir(SttModelSettings(name="tiny.en")), "whisper-tiny.en", options)


@dataclass
class Calls:
    """The speaker node's embed calls as the labeller made them (seconds of audio, priority)."""

    made: list[tuple[float, Priority]] = field(default_factory=list)
    spoken: int = 0  # how many were made while the speech was heard
    lose_first: int = 0  # the first this many fail, as an offline node's would
    in_flight: int = 0


class CountingFleet(SpeakerFleet):
    def __init__(self, pool: NodePool, calls: Calls) -> None:
        super().__init__(pool)
        self.calls = calls

    async def embed(
        self, audio: AudioArray, priority: Rank = Priority.SYNC, voice: bool = True
    ) -> VoiceWindows | None:
        # As it stands when asked (an ``Urgency`` can rise later, while the call waits).
        self.calls.made.append(
            (len(audio) / RATE, priority.priority if isinstance(priority, Urgency) else priority)
        )
        if len(self.calls.made) <= self.calls.lose_first:
            return None
        self.calls.in_flight += 1
        try:
            return await super().embed(audio, priority, voice)
        finally:
            self.calls.in_flight -= 1


def _labeller(stt: WhisperEngine, calls: Calls, block_seconds: float = BLOCK_SECONDS) -> SessionLabeller:
    pool = NodePool([InProcessNode("in-process", stt, speaker=embedder())])
    fleet = CountingFleet(pool, calls)
    # Nobody is enrolled in this tenant: the namer answers from the node and never reads the store.
    namer = SpeakerNamer(fleet, cast(SpeakerStore, None))
    return SessionLabeller(fleet, namer, "tenant-1", on_diarized=lambda _: None, block_seconds=block_seconds)


@pytest.fixture(scope="module")
def conversation(stt: WhisperEngine) -> tuple[AudioArray, Delta]:
    """The two voices and one final over all of it, with tiny.en's word times."""
    samples, _ = two_voices.live_conversation()
    audio = samples.astype(np.float32) / 32768
    words = stt.transcribe(audio, "en", DecodeOptions(word_timestamps=True))
    flat = tuple(w for s in words.segments for w in s.words)
    final = Delta(words.text, True, flat[0].start, flat[-1].end, words=flat)
    return audio, final


async def _speak(labeller: SessionLabeller, audio: AudioArray, calls: Calls) -> None:
    for start in range(0, len(audio), FRAME):
        labeller.hear(audio[start : start + FRAME])
        await asyncio.sleep(0.002)  # about 10x real time
        # A node that keeps up with real time, however busy this machine: at 10x, a block
        # still on a loaded node would make the next one longer (correctly, but not this test).
        while calls.in_flight:
            await asyncio.sleep(0.005)
    calls.spoken = len(calls.made)


def _speakers(parts: list[Delta]) -> list[str]:
    return [p.speaker.label if p.speaker else "-" for p in parts]


async def test_blocks_embed_the_speech_as_it_comes_and_the_final_waits_only_for_the_rest(
    stt: WhisperEngine, conversation: tuple[AudioArray, Delta]
) -> None:
    audio, final = conversation
    calls = Calls()
    labeller = _labeller(stt, calls)
    await _speak(labeller, audio, calls)
    parts = await labeller.label(final, audio[round(final.start * RATE) : round(final.end * RATE)])
    await labeller.close()
    # While the speech is spoken, its blocks wait behind other sessions' finals (SYNC: still
    # before partials and jobs); what the final waits for at its end goes before them.
    assert {priority for _, priority in calls.made[: calls.spoken]} == {Priority.SYNC}
    assert {priority for _, priority in calls.made[calls.spoken :]} <= {Priority.LIVE_FINAL}
    during = [seconds for seconds, _ in calls.made[: calls.spoken]]
    after = [seconds for seconds, _ in calls.made[calls.spoken :]]
    assert sum(during) >= len(audio) / RATE - BLOCK_SECONDS - 0.1  # all but the last block's worth
    assert all(s <= BLOCK_SECONDS + 0.75 + 0.5 for s in during)  # a block and its overlap each
    assert len(after) <= 1 and sum(after) <= BLOCK_SECONDS + 0.75 + 0.1  # the rest only
    # The same labels as when the whole final is embedded at its end: Elinor, Sheila, Elinor.
    assert _speakers(parts) == ["spk_0", "spk_1", "spk_0"]
    whole = _labeller(stt, Calls(), block_seconds=1e6)
    await _speak(whole, audio, Calls())
    at_end = await whole.label(final, audio[round(final.start * RATE) : round(final.end * RATE)])
    assert _speakers(at_end) == ["spk_0", "spk_1", "spk_0"]
    assert " ".join(p.text for p in parts) == " ".join(w.word for w in final.words)  # no word lost


async def test_a_block_the_node_lost_is_made_good_at_the_finals_end(
    stt: WhisperEngine, conversation: tuple[AudioArray, Delta]
) -> None:
    audio, final = conversation
    calls = Calls(lose_first=2)  # the node is away for the first two blocks
    labeller = _labeller(stt, calls)
    await _speak(labeller, audio, calls)
    parts = await labeller.label(final, audio[round(final.start * RATE) : round(final.end * RATE)])
    await labeller.close()
    after = [seconds for seconds, _ in calls.made[calls.spoken :]]
    assert after == [pytest.approx(final.end - final.start, abs=0.05)]  # the whole final, again
    assert _speakers(parts) == ["spk_0", "spk_1", "spk_0"]


async def test_the_calls_short_turns_are_split_at_their_changes(stt: WhisperEngine) -> None:
    # The pyannote call's first utterance (6.4-14.4 s, as a live session ends it): speaker90
    # "Hello?", speaker91 "Hello" (7.55-8.35), speaker90 8.32-10.02, speaker91 9.92-11.03,
    # speaker90 10.57-14.70 (its RTTM; alone, speaker91 has 9.86-10.5 there). segmentation-3.0
    # finds the changes that 1.5 s windows cannot; each part's speaker comes from the windows
    # in its local speaker's turns. (The two "Hello"s, 0.4 s apart, are not asserted: some
    # chunks hear them as one voice.)
    call = recordings.read_pcm(recordings.conversation()).astype(np.float32) / 32768
    start, end = 6.4, 14.4
    audio = call[round(start * RATE) : round(end * RATE)]
    words = stt.transcribe(audio, "en", DecodeOptions(word_timestamps=True))
    flat = tuple(w.shifted(start) for s in words.segments for w in s.words)
    final = Delta(words.text, True, start, end, words=flat)
    calls = Calls()
    labeller = _labeller(stt, calls)
    await _speak(labeller, call[: 15 * RATE], calls)
    parts = await labeller.label(final, audio)
    await labeller.close()

    def said_at(t: float) -> str:
        part = next(p for p in parts if p.start <= t < p.end)
        assert part.speaker is not None
        return part.speaker.label

    assert said_at(9.0) == said_at(12.5)  # speaker90, either side of speaker91's turn
    assert said_at(10.2) != said_at(9.0)  # speaker91's 0.6 s between them is hers
    assert len(parts) >= 3
    # The parts tile the final and keep every word, in order.
    assert parts[0].start == start and parts[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert [w for p in parts for w in p.words] == list(flat)
