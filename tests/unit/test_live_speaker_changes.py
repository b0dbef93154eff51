"""Where a live final changes speaker: segmentation-3.0's local speakers on the real pyannote
call (engine and in-process node), and the pure steps that turn local turns and embedding
windows into a final's parts (live/speaker_changes.py, live/diarize.py's ``tile``)."""

from __future__ import annotations

import numpy as np
import pytest

from scaiecho_module.backends.node import SpeakerTurn, VoiceWindows
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.priority import Priority
from scaiecho_module.config import SttModelSettings
from scaiecho_module.engines.segmentation import LocalSegmenter
from scaiecho_module.engines.speaker_embedding import EMBEDDING_DIM
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import resolve_model_dir
from scaiecho_module.live import speaker_changes as changes
from scaiecho_module.live.diarize import tile
from scaiecho_module.live.local_chunks import RecentAudio
from scaiecho_module.live.voice_blocks import union
from scaiecho_module.transcript import Delta, Speaker, Word
from tests.support import recordings
from tests.support.speakers import embedder

RATE = 16000
A, B = Speaker("Ann", "id-a"), Speaker("spk_1")


@pytest.fixture(scope="module")
def call() -> np.ndarray:
    return recordings.read_pcm(recordings.conversation()).astype(np.float32) / 32768


@pytest.fixture(scope="module")
def stt() -> WhisperEngine:
    options = WhisperOptions(cpu_threads=1, beam_size=1)
    return WhisperEngine(resolve_model_dir(SttModelSettings(name="tiny.en")), "whisper-tiny.en", options)


@pytest.fixture(scope="module")
def segmenter() -> LocalSegmenter:
    return LocalSegmenter()


def _words(*spans: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, word, 0.9) for start, end, word in spans)


def _alone_at(turns: tuple[SpeakerTurn, ...], t: float) -> int | None:
    return next((x.speaker for x in turns if x.start <= t < x.end), None)


def test_segmentation_finds_the_calls_short_turns(call: np.ndarray, segmenter: LocalSegmenter) -> None:
    # 5-15 s of the call: speaker90 8.32-10.02 and 10.57-14.70, speaker91 7.55-8.35 ("Hello")
    # and 9.92-11.03: turns under a second that 1.5 s windows cannot see (its RTTM).
    turns = segmenter.local_turns(call[5 * RATE : 15 * RATE])
    speaker90, speaker91 = _alone_at(turns, 9.0 - 5), _alone_at(turns, 7.9 - 5)
    assert speaker90 is not None and speaker91 is not None and speaker90 != speaker91
    assert _alone_at(turns, 12.5 - 5) == speaker90
    assert _alone_at(turns, 10.2 - 5) == speaker91
    # Each change within a quarter of a second of the reference's.
    starts = {round(t.start + 5, 1) for t in turns} | {round(t.end + 5, 1) for t in turns}
    for change in (7.55, 8.33, 9.92):
        assert min(abs(change - s) for s in starts) <= 0.25, (change, sorted(starts))
    # Silence and overlap are nobody's: nothing before the first "Hello" (6.69 s).
    assert all(t.start + 5 >= 6.5 for t in turns)


def test_short_audio_has_no_local_turns(segmenter: LocalSegmenter) -> None:
    assert segmenter.local_turns(np.zeros(RATE // 2, dtype=np.float32)) == ()


async def test_the_in_process_node_segments_behind_its_slot(
    call: np.ndarray, segmenter: LocalSegmenter, stt: WhisperEngine
) -> None:
    node = InProcessNode("in-process", stt, speaker=embedder())
    chunk = call[5 * RATE : 15 * RATE]
    assert await node.segment_speakers(chunk, Priority.LIVE_FINAL) == segmenter.local_turns(chunk)
    without = InProcessNode("stt-only", stt)
    with pytest.raises(Exception, match="no speaker engine"):
        await without.segment_speakers(chunk)


def test_chunks_cover_the_final_back_from_its_end() -> None:
    assert changes.chunk_spans(20.0, 26.0, context_from=0.0) == [(16.0, 26.0)]  # context before it
    assert changes.chunk_spans(20.0, 26.0, context_from=19.0) == [(19.0, 26.0)]  # as far back as held
    assert changes.chunk_spans(6.0, 21.0, context_from=0.0) == [(6.0, 16.0), (11.0, 21.0)]
    assert changes.chunk_spans(5.0, 21.0, context_from=0.0) == [(1.0, 11.0), (6.0, 16.0), (11.0, 21.0)]


def test_a_local_speaker_is_told_by_the_windows_mostly_in_its_turns() -> None:
    chunk = changes.Chunk(
        10.0, 20.0, (SpeakerTurn(0.0, 4.0, 0), SpeakerTurn(4.0, 4.6, 1), SpeakerTurn(5.0, 9.0, 0))
    )
    assert chunk.alone(13.0) == 0 and chunk.alone(14.3) == 1 and chunk.alone(19.5) is None
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, EMBEDDING_DIM)).astype(np.float32)
    # Windows (seconds from the final's start at 12 s): two in local 0's turns, one across
    # local 1's short turn (0.4 of it theirs, a third local 0's), one outside the chunk.
    windows = VoiceWindows(
        starts=np.array([-2.0, 0.0, 1.8, 8.5], dtype=np.float32),
        ends=np.array([-0.5, 1.5, 3.3, 10.0], dtype=np.float32),
        vectors=vectors,
        voice=None,
    )
    found = {(v.chunk, v.speaker): v for v in changes.local_voices([chunk], windows, 12.0, {(0, 0), (0, 1)})}
    assert set(found) == {(0, 0), (0, 1)}
    assert found[(0, 0)].windows == 2  # the window before the final counts: context
    assert found[(0, 1)].windows == 1  # its best window, 0.4 of it in the turn
    assert np.allclose(found[(0, 1)].vector, vectors[2] / np.linalg.norm(vectors[2]) * 0.4, atol=1e-5)


def test_words_take_the_speaker_alone_in_them_and_the_change_lies_between() -> None:
    chunk = changes.Chunk(0.0, 10.0, (SpeakerTurn(1.0, 4.0, 0), SpeakerTurn(4.3, 6.0, 1)))
    at = changes.timeline(changes.readings([chunk], 0.5, 6.5), {(0, 0): 7, (0, 1): 8}, 0.5)
    words = _words(
        (1.0, 1.5, "so"), (1.6, 3.9, "anyway"), (4.0, 4.4, "yes"), (4.5, 5.5, "right"), (6.2, 6.4, "ok")
    )
    keys = changes.word_keys(words, at)  # local 0 is the labeller's voice 7, local 1 its 8
    # "yes" is mostly no one's (4.0-4.3) but 8's at its end; "ok" is nobody's: the nearest, 8.
    assert keys == [7, 7, 8, 8, 8]
    parts = changes.groups(words, keys)
    assert [(key, [w.word for w in group]) for key, group in parts] == [
        (7, ["so", "anyway"]), (8, ["yes", "right", "ok"]),
    ]  # fmt: skip
    assert changes.change_at(words[1], words[2], 8, at) == 4.3  # where 8 begins alone
    assert changes.word_keys(words, lambda t: None) == [None] * 5


def test_a_final_is_tiled_by_its_parts_at_the_changes() -> None:
    words = _words((1.0, 1.5, "so"), (4.5, 5.5, "right"), (6.0, 6.3, "and"), (7.0, 7.5, "then"))
    final = Delta("so right and then", True, 0.8, 7.8, words=words)
    parts = tile(final, [[words[0]], [words[1]], [words[2], words[3]]], [4.3, 5.8], [A, B, A])
    assert [(p.text, p.start, p.end, p.speaker) for p in parts] == [
        ("so", 0.8, 4.3, A), ("right", 4.3, 5.8, B), ("and then", 5.8, 7.8, A),
    ]  # fmt: skip
    # Neighbours of one speaker join; one speaker left: the final as it was, labelled.
    assert tile(final, [[words[0]], [words[1], words[2], words[3]]], [4.3], [A, A]) == [
        Delta(final.text, True, 0.8, 7.8, A, words)
    ]


def test_recent_audio_holds_the_last_seconds_heard() -> None:
    recent = RecentAudio(2.0)
    assert recent.since(0.0) is None
    for second in range(5):
        recent.hear(np.full(RATE, second, dtype=np.float32))
    held = recent.since(0.0)
    assert held is not None and held[0] == 3.0 and len(held[1]) == 2 * RATE  # the oldest went
    start, audio = recent.since(3.5) or (0.0, np.zeros(0))
    assert start == 3.5 and len(audio) == int(1.5 * RATE) and audio[0] == 3.0
    assert recent.start == 3.0 and recent.end == 5.0
    start, audio = recent.between(2.0, 4.5) or (0.0, np.zeros(0))
    assert start == 3.0 and len(audio) == int(1.5 * RATE)


def test_local_speakers_sharing_speech_alone_are_one_person_never_two_of_one_chunk() -> None:
    # Chunk 0 hears A (1-4 s) and B (4.5-6 s); chunk 1 (5 s later) hears B's turn on (as its
    # local 0) and A again (its local 1); chunk 2's one local speaker spans both A and B's
    # speech (a chunk that heard them as one voice): it may join one of them, never both.
    chunks = [
        changes.Chunk(0.0, 10.0, (SpeakerTurn(1.0, 4.0, 0), SpeakerTurn(4.5, 6.0, 1))),
        changes.Chunk(5.0, 15.0, (SpeakerTurn(0.0, 1.0, 0), SpeakerTurn(2.0, 6.0, 1))),
        changes.Chunk(2.0, 12.0, (SpeakerTurn(1.0, 4.0, 0),)),
    ]
    everyone = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]
    people = changes.linked(chunks, everyone)
    assert {(1, 0), (0, 1)} <= next(p for p in people if (0, 1) in p)  # B, in both chunks
    assert not any({(0, 0), (0, 1)} <= p for p in people)
    assert sum(1 for p in people if (2, 0) in p) == 1 and len(people) == 3
    assert changes.alone_spans(chunks[1], 1) == [(7.0, 11.0)] and changes.alone_seconds(chunks[1], 1) == 4.0
    assert union([(3.0, 4.0), (1.0, 2.0), (1.5, 2.5)]) == [(1.0, 2.5), (3.0, 4.0)]
