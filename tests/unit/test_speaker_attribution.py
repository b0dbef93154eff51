"""Speaker attribution of transcript segments: overlap, splits at a change, spk_N linking, wire."""

from __future__ import annotations

import numpy as np

from scaiecho_module.engines.diarization import Diarization
from scaiecho_module.engines.segmentation import SpeakerTurn
from scaiecho_module.engines.speaker_embedding import EMBEDDING_DIM
from scaiecho_module.engines.speaker_wire import SpeakerReply
from scaiecho_module.speakers.attribution import LINK_COSINE, AnonymousVoices, attribute
from scaiecho_module.speakers.naming import anonymous_label
from scaiecho_module.transcript import Segment, Speaker, Word

TURNS = (SpeakerTurn(0.0, 4.0, 0), SpeakerTurn(4.0, 7.0, 1), SpeakerTurn(8.0, 9.0, 0))
NAMES = {0: Speaker("Ann", "id-ann"), 1: Speaker("spk_0")}


def _word(start: float, end: float, text: str) -> Word:
    return Word(start, end, text, 0.9)


def test_a_segment_takes_the_speaker_it_overlaps_most() -> None:
    (one,) = attribute([Segment(3.0, 6.5, "mostly the second")], TURNS, NAMES)
    assert one.speaker == Speaker("spk_0")
    (near,) = attribute([Segment(7.2, 7.6, "in a pause")], TURNS, NAMES)
    assert near.speaker == Speaker("spk_0")  # the nearest turn (7.0) within a second
    (far,) = attribute([Segment(20.0, 21.0, "nobody near")], TURNS, NAMES)
    assert far.speaker is None
    assert attribute([Segment(0.0, 1.0, "x")], (), {})[0].speaker is None


def test_a_segment_with_words_is_split_where_the_speaker_changes() -> None:
    words = (
        _word(2.5, 3.0, " Hello"),
        _word(3.1, 3.8, " there."),
        _word(4.2, 4.6, " Hi"),
        _word(4.7, 5.2, " Ann."),
        _word(7.2, 7.4, " um"),  # in a pause: the nearest turn's
        _word(8.2, 8.8, " Bye."),
    )
    parts = attribute([Segment(2.4, 8.9, "Hello there. Hi Ann. um Bye.", words=words)], TURNS, NAMES)
    assert [(p.text, p.speaker) for p in parts] == [
        ("Hello there.", NAMES[0]),
        ("Hi Ann. um", NAMES[1]),
        ("Bye.", NAMES[0]),
    ]
    assert (parts[0].start, parts[0].end, parts[1].start, parts[-1].end) == (2.4, 3.8, 4.2, 8.9)
    assert sum(len(p.words) for p in parts) == len(words)


def test_unnamed_voices_keep_their_number_across_windows() -> None:
    rng = np.random.default_rng(1)
    a, b = (v / np.linalg.norm(v) for v in rng.standard_normal((2, EMBEDDING_DIM)).astype(np.float32))
    voices = AnonymousVoices()
    assert [voices.assign(a), voices.assign(b)] == [0, 1]
    noisy = a + 0.2 * rng.standard_normal(EMBEDDING_DIM).astype(np.float32) / np.sqrt(EMBEDDING_DIM)
    assert float(noisy @ a) / float(np.linalg.norm(noisy)) > LINK_COSINE
    assert voices.assign(noisy) == 0
    assert voices.assign(-a) == 2  # a voice like none before is a new one
    assert AnonymousVoices(first=3).assign(a) == 3  # a resumed job numbers after the stored ones
    # One window's two clusters never take the same earlier voice, however alike.
    assert voices.assign_all([a, noisy]) in ([0, 3], [3, 0])
    assert anonymous_label(2) == "spk_2"


def test_a_diarization_crosses_the_wire_whole() -> None:
    centroids = np.eye(2, EMBEDDING_DIM, dtype=np.float32)
    found = Diarization(TURNS, TURNS[:2], centroids)
    back = SpeakerReply.from_tensors(*SpeakerReply.of_diarization(found).tensors().values()).diarization()
    assert back.turns == TURNS and back.exclusive == TURNS[:2]
    assert np.array_equal(back.centroids, centroids)
    empty = SpeakerReply.from_tensors(*SpeakerReply.of_diarization(Diarization.empty()).tensors().values())
    assert empty.diarization().speakers == 0
