"""ReplayBuffer: the audio a live session replays after a backend failure, since its last final."""

from __future__ import annotations

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.live.replay import ReplayBuffer


def _ramp(start: int, length: int) -> np.ndarray:
    """Samples whose values are their own session index, so any slice shows where it came from."""
    return np.arange(start, start + length, dtype=np.float32)


def _feed(buffer: ReplayBuffer, sizes: list[int]) -> int:
    at = 0
    for size in sizes:
        buffer.append(_ramp(at, size))
        at += size
    return at


def test_an_empty_buffer_replays_no_audio() -> None:
    audio = ReplayBuffer().audio()
    assert len(audio) == 0
    assert audio.dtype == np.float32


def test_everything_appended_is_replayed_in_order() -> None:
    buffer = ReplayBuffer(max_seconds=60)
    end = _feed(buffer, [100, 1, 5000, 37])
    assert buffer.start == 0
    np.testing.assert_array_equal(buffer.audio(), _ramp(0, end))


def test_the_buffer_keeps_at_most_max_seconds_dropping_the_oldest_audio() -> None:
    buffer = ReplayBuffer(max_seconds=2.0)
    block = SAMPLE_RATE // 4
    end = _feed(buffer, [block] * 40)  # 10 s of audio into a 2 s buffer
    audio = buffer.audio()
    assert len(audio) <= 2 * SAMPLE_RATE
    assert len(audio) >= 2 * SAMPLE_RATE - block  # whole blocks go: at most one block less
    # What is kept is the newest audio, and start names its first sample.
    assert buffer.start == end - len(audio)
    np.testing.assert_array_equal(audio, _ramp(buffer.start, len(audio)))


def test_the_newest_block_is_kept_even_when_it_alone_exceeds_the_bound() -> None:
    buffer = ReplayBuffer(max_seconds=1.0)
    _feed(buffer, [1000, 3 * SAMPLE_RATE])
    assert buffer.start == 1000
    np.testing.assert_array_equal(buffer.audio(), _ramp(1000, 3 * SAMPLE_RATE))


def test_a_final_inside_a_block_trims_that_block_at_the_exact_sample() -> None:
    buffer = ReplayBuffer()
    end = _feed(buffer, [1000, 1000, 1000])
    buffer.forget_until(1500)
    assert buffer.start == 1500
    np.testing.assert_array_equal(buffer.audio(), _ramp(1500, end - 1500))


def test_a_final_on_a_block_boundary_drops_whole_blocks() -> None:
    buffer = ReplayBuffer()
    end = _feed(buffer, [1000, 1000, 1000])
    buffer.forget_until(2000)
    assert buffer.start == 2000
    np.testing.assert_array_equal(buffer.audio(), _ramp(2000, end - 2000))


def test_a_final_covering_everything_leaves_nothing_to_replay() -> None:
    buffer = ReplayBuffer()
    end = _feed(buffer, [1000, 1000])
    buffer.forget_until(end)
    assert len(buffer.audio()) == 0
    assert buffer.start == end


def test_a_final_before_the_held_audio_changes_nothing() -> None:
    buffer = ReplayBuffer(max_seconds=0.1)
    end = _feed(buffer, [1000, 1000, 1000])  # the bound already dropped the first blocks
    held = buffer.audio().copy()
    start = buffer.start
    buffer.forget_until(start - 500)
    assert buffer.start == start
    np.testing.assert_array_equal(buffer.audio(), held)
    assert start + len(held) == end


def test_audio_after_the_last_final_is_what_is_replayed() -> None:
    buffer = ReplayBuffer()
    at = _feed(buffer, [800, 800])
    buffer.forget_until(1200)  # first final
    buffer.append(_ramp(at, 800))
    buffer.forget_until(2000)  # second final
    buffer.append(_ramp(at + 800, 300))
    assert buffer.start == 2000
    np.testing.assert_array_equal(buffer.audio(), _ramp(2000, at + 1100 - 2000))


def test_repeated_finals_never_move_the_start_backwards() -> None:
    buffer = ReplayBuffer()
    _feed(buffer, [500] * 10)
    starts = []
    for final in (700, 700, 300, 2600, 2500, 5000):
        buffer.forget_until(final)
        starts.append(buffer.start)
    assert starts == sorted(starts)
    assert starts[-1] == 5000
