"""The live labeller's parts: runs of window speakers, splitting a final between words, the
session's anonymous voices (on real CAM++ embeddings of two real voices), the delta frame."""

from __future__ import annotations

import json

import numpy as np

from scaiecho_module.live.diarize import SessionVoices, runs_of, snap_to_pause, split_words
from scaiecho_module.transcript import Delta, Speaker, Word
from scaiecho_module.transport.live_frames import delta_frame, encode
from tests.support import speakers, two_voices

A, B = Speaker("Ann", "id-a"), Speaker("spk_0")


def _words(*spans: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, word, 0.9) for start, end, word in spans)


def test_runs_of_one_window_join_a_neighbour() -> None:
    assert [(r.key, r.first, r.last) for r in runs_of([A, A, 3, A, A])] == [(A, 0, 4)]
    assert [(r.key, r.first, r.last) for r in runs_of([3, A, A, B, B])] == [(A, 0, 2), (B, 3, 4)]
    assert len(runs_of([A, B])) == 1  # too short to split: the final's whole voice decides
    assert [(r.key, r.first, r.last) for r in runs_of([A, A, B, B, A, A])] == [
        (A, 0, 1), (B, 2, 3), (A, 4, 5),
    ]  # fmt: skip


def test_a_final_is_split_between_words_at_the_longest_nearby_pause() -> None:
    words = _words((10.0, 10.4, "from"), (10.5, 11.0, "Chicago."), (11.3, 11.5, "He"), (11.55, 11.9, "might"))
    final = Delta("from Chicago. He might", True, 9.9, 12.0, words=words)
    cut = snap_to_pause(words, 10.7)  # the windows' estimate, 0.45 s early
    assert cut == 11.15
    parts = split_words(final, [cut], [A, B])
    # The parts meet at the change, as the segmentation path's parts do.
    assert [(p.text, p.start, p.end, p.speaker) for p in parts] == [
        ("from Chicago.", 9.9, 11.15, A), ("He might", 11.15, 12.0, B),
    ]  # fmt: skip
    # A part without words joins its neighbour; nothing of the text is lost.
    assert split_words(final, [9.95], [A, B]) == [Delta(final.text, True, 9.9, 12.0, B, words)]
    # An empty part between two of one speaker: the two become one.
    assert split_words(final, [10.45, 10.5], [A, B, A]) == [Delta(final.text, True, 9.9, 12.0, A, words)]
    # The second of four parts has no words: the first runs on to where the third begins.
    parts = split_words(final, [10.45, 10.5, 11.15], [A, Speaker("spk_1"), B, A])
    assert [(p.text, p.start, p.end, p.speaker) for p in parts] == [
        ("from", 9.9, 10.5, A), ("Chicago.", 10.5, 11.15, B), ("He might", 11.15, 12.0, A),
    ]  # fmt: skip


def test_two_real_voices_become_two_session_voices_and_stay_apart() -> None:
    embedder = speakers.embedder()
    samples, turns = two_voices.live_conversation()
    audio = samples.astype(np.float32) / 32768
    voices = SessionVoices()
    found = []
    for turn in turns:
        windows = embedder.voice_windows(audio[int(turn.start * 16000) : int(turn.end * 16000)])
        assert windows.voice is not None
        found.append(voices.assign(windows.voice))
        found += [voices.nearest(v) for v in windows.vectors]
    assert len(voices) == 2
    assert found[0] == 0  # Elinor first: spk_0
    # Every window of each turn is nearest its own voice: Elinor's turns 0, Sheila's 1.
    per_turn, at = [], 0
    for turn in turns:
        windows = embedder.voice_windows(audio[int(turn.start * 16000) : int(turn.end * 16000)])
        per_turn.append(set(found[at : at + 1 + len(windows.vectors)]))
        at += 1 + len(windows.vectors)
    assert per_turn == [{0}, {1}, {0}]


def test_delta_frames_carry_the_speaker_only_when_there_is_one() -> None:
    plain = json.loads(encode(delta_frame(Delta("hi", True, 0.0, 1.0))))
    assert plain == {"type": "delta", "text": "hi", "is_final": True, "start": 0.0, "end": 1.0}
    named = json.loads(encode(delta_frame(Delta("hi", True, 0.0, 1.0, A))))
    assert (named["speaker_label"], named["speaker_id"]) == ("Ann", "id-a")
    anonymous = json.loads(encode(delta_frame(Delta("hi", True, 0.0, 1.0, B))))
    assert anonymous["speaker_label"] == "spk_0" and "speaker_id" not in anonymous
