"""UtteranceTracker: frame speech probabilities in, utterance boundaries out (no model needed)."""

from __future__ import annotations

import numpy as np

from scaiecho_module.engines.vad import FRAME_SECONDS, Event, UtteranceTracker

SILENCE_FRAMES = int(0.5 / FRAME_SECONDS)  # the default min_silence, in frames


def _probs(*runs: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(count, prob, dtype=np.float32) for prob, count in runs])


def test_silence_produces_no_events() -> None:
    assert UtteranceTracker().update(_probs((0.01, 500))) == []


def test_speech_starts_at_its_first_frame_and_ends_after_the_last_speech_frame() -> None:
    events = UtteranceTracker().update(_probs((0.0, 10), (0.9, 30), (0.0, SILENCE_FRAMES + 5)))
    assert events == [(Event.SPEECH_START, 10), (Event.SPEECH_END, 40)]


def test_an_utterance_ends_only_after_min_silence_of_quiet() -> None:
    short_pause = SILENCE_FRAMES - 1
    events = UtteranceTracker().update(_probs((0.9, 20), (0.0, short_pause), (0.9, 20)))
    assert events == [(Event.SPEECH_START, 0)]  # one utterance, still open
    tracker = UtteranceTracker(min_silence=1.0)
    assert tracker.update(_probs((0.9, 20), (0.0, SILENCE_FRAMES + 1))) == [(Event.SPEECH_START, 0)]


def test_uncertain_frames_between_the_two_thresholds_keep_an_utterance_open() -> None:
    tracker = UtteranceTracker()
    # 0.4 is under the start threshold (0.5) but above the end threshold (0.35): hysteresis.
    assert tracker.update(_probs((0.9, 20), (0.4, 3 * SILENCE_FRAMES))) == [(Event.SPEECH_START, 0)]
    # The first clearly quiet frame after that ends it, at the last speech frame.
    assert tracker.update(_probs((0.1, 1))) == [(Event.SPEECH_END, 20)]


def test_a_burst_shorter_than_min_speech_is_reported_as_noise() -> None:
    min_frames = int(np.ceil(0.25 / FRAME_SECONDS))
    short = UtteranceTracker().update(_probs((0.9, min_frames - 1), (0.0, SILENCE_FRAMES + 1)))
    assert [event for event, _ in short] == [Event.SPEECH_START, Event.NOISE]
    long = UtteranceTracker().update(_probs((0.9, min_frames), (0.0, SILENCE_FRAMES + 1)))
    assert [event for event, _ in long] == [Event.SPEECH_START, Event.SPEECH_END]


def test_every_start_is_followed_by_one_end_before_the_next_start() -> None:
    rng = np.random.default_rng(7)
    runs = [(float(rng.choice([0.05, 0.45, 0.95])), int(rng.integers(1, 40))) for _ in range(300)]
    events = UtteranceTracker().update(_probs(*runs))
    kinds = [event for event, _ in events]
    assert kinds[0::2] == [Event.SPEECH_START] * len(kinds[0::2])
    assert all(kind in (Event.SPEECH_END, Event.NOISE) for kind in kinds[1::2])
    frames = [frame for _, frame in events]
    assert frames == sorted(frames)


def test_feeding_in_pieces_gives_the_same_events_as_feeding_at_once() -> None:
    rng = np.random.default_rng(3)
    probs = _probs(*[(float(rng.choice([0.0, 0.4, 0.9])), int(rng.integers(1, 30))) for _ in range(200)])
    whole = UtteranceTracker().update(probs)
    tracker, pieces, at = UtteranceTracker(), [], 0
    while at < len(probs):
        step = int(rng.integers(1, 50))
        pieces += tracker.update(probs[at : at + step])
        at += step
    assert len(whole) > 10
    assert pieces == whole


def test_positions_count_frames_from_the_start_of_the_stream() -> None:
    tracker = UtteranceTracker()
    tracker.update(_probs((0.0, 1000)))
    events = tracker.update(_probs((0.9, 10), (0.0, SILENCE_FRAMES + 1)))
    assert events == [(Event.SPEECH_START, 1000), (Event.SPEECH_END, 1010)]
