"""Relay pieces: audio longer than a relay's request cap goes in pieces cut at pauses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.backends.relay.backend import _pieces
from tests.unit import synth

LIMIT = 4 * SAMPLE_RATE


def _check_contiguous(pieces: list[tuple[int, np.ndarray]], audio: np.ndarray) -> None:
    assert pieces[0][0] == 0
    for (offset, piece), (next_offset, _) in itertools.pairwise(pieces):
        assert next_offset == offset + len(piece)
    last_offset, last = pieces[-1]
    assert last_offset + len(last) == len(audio)
    np.testing.assert_array_equal(np.concatenate([piece for _, piece in pieces]), audio)


def test_pieces_are_contiguous_within_the_limit_and_end_in_pauses() -> None:
    audio, pauses = synth.timeline(*synth.PHRASES)
    pieces = _pieces(audio, LIMIT)
    _check_contiguous(pieces, audio)
    assert len(pieces) >= 3
    assert all(len(piece) <= LIMIT for _, piece in pieces)
    for offset, piece in pieces[:-1]:
        end = offset + len(piece)
        assert any(start <= end <= stop for start, stop in pauses), end / SAMPLE_RATE
        # The cut is in the piece's last third: pieces are not needlessly short.
        assert len(piece) >= LIMIT * 2 // 3


def test_audio_within_the_limit_is_sent_whole() -> None:
    for seconds in (0.5, 4.0):
        audio = synth.speech(seconds)
        pieces = _pieces(audio, LIMIT)
        assert len(pieces) == 1
        assert pieces[0][0] == 0
        np.testing.assert_array_equal(pieces[0][1], audio)


def test_speech_without_a_pause_is_cut_at_the_limit() -> None:
    audio = synth.speech(9.0)
    pieces = _pieces(audio, LIMIT)
    _check_contiguous(pieces, audio)
    assert [len(piece) for _, piece in pieces] == [LIMIT, LIMIT, 1 * SAMPLE_RATE]


@pytest.mark.parametrize("seconds", [4.01, 8.0, 12.5])
def test_silence_is_cut_into_full_pieces(seconds: float) -> None:
    audio = synth.silence(seconds)
    pieces = _pieces(audio, LIMIT)
    _check_contiguous(pieces, audio)
    assert all(len(piece) == LIMIT for _, piece in pieces[:-1])
    assert 0 < len(pieces[-1][1]) <= LIMIT
