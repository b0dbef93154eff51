"""Long-form windows: cut at pauses (the real Silero VAD), contiguous, within their bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.audio.windows import Window, iter_windows
from scaiecho_module.engines.stt import pause_cut
from tests.unit import synth


def _in_a_pause(sample: int, pauses: list[tuple[int, int]]) -> bool:
    return any(start <= sample <= end for start, end in pauses)


def _check_tiling(windows: list[Window], audio: np.ndarray, skip: int = 0) -> None:
    """The windows cover audio[skip:] exactly: no gap, no overlap, no changed sample."""
    assert windows[0].start_sample == skip
    for before, after in itertools.pairwise(windows):
        assert after.start_sample == before.end_sample
    assert windows[-1].end_sample == len(audio)
    np.testing.assert_array_equal(np.concatenate([w.audio for w in windows]), audio[skip:])


# -- pause_cut ------------------------------------------------------------------------------


def test_cut_lands_in_the_middle_of_the_latest_pause_after_earliest() -> None:
    audio, pauses = synth.timeline(
        ("speech", 1.5), ("silence", 0.5), ("speech", 1.5), ("silence", 0.5), ("speech", 1.5)
    )
    cut = pause_cut(audio, earliest=0)
    later_start, later_end = pauses[1]
    assert later_start <= cut <= later_end  # the later of the two pauses, not the first
    assert abs(cut - (later_start + later_end) / 2) < 0.15 * SAMPLE_RATE


def test_without_a_pause_after_earliest_the_cut_is_the_end() -> None:
    audio, pauses = synth.timeline(("speech", 1.5), ("silence", 0.5), ("speech", 2.0))
    assert pause_cut(audio, earliest=pauses[0][1] + SAMPLE_RATE // 4) == len(audio)
    assert pause_cut(synth.speech(3.0), earliest=0) == 3 * SAMPLE_RATE


def test_trailing_silence_counts_as_a_pause() -> None:
    audio, pauses = synth.timeline(("speech", 2.0), ("silence", 1.0))
    cut = pause_cut(audio, earliest=SAMPLE_RATE)
    assert _in_a_pause(cut, pauses)
    assert cut < len(audio)


def test_a_turn_gap_of_a_quarter_second_is_a_pause() -> None:
    # People on a call leave 0.2-0.5 s between turns: cutting there, not at the window's
    # end, keeps both turns' words whole.
    audio, pauses = synth.timeline(("speech", 5.0), ("silence", 0.25), ("speech", 5.0))
    assert _in_a_pause(pause_cut(audio, earliest=2 * SAMPLE_RATE), pauses)


def test_a_much_shorter_later_pause_gives_way_to_a_clear_one() -> None:
    audio, pauses = synth.timeline(
        ("speech", 3.0), ("silence", 1.0), ("speech", 2.0), ("silence", 0.2), ("speech", 2.0)
    )
    cut = pause_cut(audio, earliest=0)
    assert pauses[0][0] <= cut <= pauses[0][1]  # the 1 s pause, not the later 0.2 s one


@pytest.mark.parametrize("kind", ["silence", "noise", "tone"])
def test_audio_without_speech_is_cut_at_its_end(kind: str) -> None:
    audio = {"silence": synth.silence, "noise": synth.noise, "tone": synth.tone}[kind](2.0)
    assert pause_cut(audio, earliest=SAMPLE_RATE // 2) == len(audio)


# -- iter_windows ---------------------------------------------------------------------------


def test_windows_end_in_pauses_and_stay_within_their_bounds() -> None:
    audio, pauses = synth.timeline(*synth.PHRASES)
    windows = list(iter_windows(synth.blocks(audio, 0.5), 4.0, pause_cut))
    _check_tiling(windows, audio)
    assert len(windows) >= 3
    for window in windows[:-1]:
        assert 2.0 * SAMPLE_RATE <= len(window.audio) <= 4.0 * SAMPLE_RATE
        assert _in_a_pause(window.end_sample, pauses), window.end_sample / SAMPLE_RATE
    assert len(windows[-1].audio) <= 4.0 * SAMPLE_RATE


def test_speech_without_pauses_is_cut_at_the_window_length() -> None:
    audio = synth.speech(9.0)
    windows = list(iter_windows(synth.blocks(audio, 1.0), 4.0, pause_cut))
    _check_tiling(windows, audio)
    assert [len(w.audio) for w in windows] == [4 * SAMPLE_RATE, 4 * SAMPLE_RATE, 1 * SAMPLE_RATE]


def test_block_sizes_do_not_change_the_windows() -> None:
    audio, _ = synth.timeline(*synth.PHRASES)
    cut_every_third = lambda window, earliest: earliest + (len(window) - earliest) // 3  # noqa: E731
    by_size = [
        [
            (w.start_sample, len(w.audio))
            for w in iter_windows(synth.blocks(audio, size), 4.0, cut_every_third)
        ]
        for size in (0.01, 0.3, 1.7, 30.0)
    ]
    assert all(windows == by_size[0] for windows in by_size)


def test_a_cut_finder_out_of_range_is_clamped_to_half_and_full_window() -> None:
    audio = synth.noise(10.0)
    too_early = list(iter_windows([audio], 2.0, lambda window, earliest: 0))
    too_late = list(iter_windows([audio], 2.0, lambda window, earliest: 10 * len(window)))
    assert {len(w.audio) for w in too_early[:-1]} == {SAMPLE_RATE}
    assert {len(w.audio) for w in too_late[:-1]} == {2 * SAMPLE_RATE}
    _check_tiling(too_early, audio)
    _check_tiling(too_late, audio)


def test_the_cut_finder_sees_one_full_window_and_the_earliest_acceptable_cut() -> None:
    seen: list[tuple[int, int]] = []

    def spy(window: np.ndarray, earliest: int) -> int:
        seen.append((len(window), earliest))
        return len(window)

    list(iter_windows(synth.blocks(synth.noise(7.0), 0.25), 2.0, spy))
    assert seen == [(2 * SAMPLE_RATE, SAMPLE_RATE)] * 3


def test_skipped_samples_are_not_windowed_and_keep_their_place_on_the_timeline() -> None:
    audio = synth.noise(9.0)
    skip = int(3.3 * SAMPLE_RATE)  # past the first blocks and into the middle of one
    windows = list(iter_windows(synth.blocks(audio, 1.0), 2.0, lambda w, e: len(w), skip_samples=skip))
    _check_tiling(windows, audio, skip)
    assert windows[0].start_seconds == pytest.approx(3.3)


def test_audio_shorter_than_a_window_is_one_window() -> None:
    audio = synth.speech(1.0)
    windows = list(iter_windows(synth.blocks(audio, 0.1), 5.0, pause_cut))
    assert len(windows) == 1
    _check_tiling(windows, audio)


def test_no_audio_gives_no_windows() -> None:
    assert list(iter_windows([], 5.0, pause_cut)) == []
    assert list(iter_windows([synth.noise(1.0)], 5.0, pause_cut, skip_samples=SAMPLE_RATE)) == []
