"""Pure pieces of the enrollment preflight: voice counting, the consent text match, verdicts."""

from __future__ import annotations

import numpy as np

from scaiecho_module.backends.node import VoiceWindows
from scaiecho_module.speakers import preflight as pf
from scaiecho_module.speakers.consent import text_match

LIMITS = pf.Thresholds()


def _windows(*groups: tuple[np.ndarray, int], seed: int = 0) -> VoiceWindows:
    """Unit vectors scattered around each group's direction (cosine to it about 0.9)."""
    rng = np.random.default_rng(seed)
    rows = []
    for direction, count in groups:
        for _ in range(count):
            vector = direction + rng.normal(0, 0.35 / np.sqrt(len(direction)), len(direction))
            rows.append(vector / np.linalg.norm(vector))
    vectors = np.asarray(rows, dtype=np.float32)
    starts = np.arange(len(rows), dtype=np.float32) * 1.5
    voice = vectors.mean(axis=0)
    return VoiceWindows(starts, starts + 1.5, vectors, (voice / np.linalg.norm(voice)).astype(np.float32))


def _axis(index: int, dims: int = 192) -> np.ndarray:
    vector = np.zeros(dims)
    vector[index] = 1.0
    return vector


def test_one_direction_is_one_voice() -> None:
    assert pf.count_voices(_windows((_axis(0), 12)), LIMITS) == 1


def test_two_distinct_directions_are_two_voices() -> None:
    assert pf.count_voices(_windows((_axis(0), 8), (_axis(1), 6)), LIMITS) == 2


def test_a_single_stray_window_is_not_a_second_voice() -> None:
    assert pf.count_voices(_windows((_axis(0), 12), (_axis(1), 1)), LIMITS) == 1


def test_no_windows_is_no_voice() -> None:
    empty = np.zeros((0, 192), dtype=np.float32)
    assert pf.count_voices(VoiceWindows(empty[:, 0], empty[:, 0], empty, None), LIMITS) == 0


def test_voice_checks_without_a_node_are_not_checked() -> None:
    checks, voices = pf.voice_checks(None, None, LIMITS)
    assert voices is None
    assert {check.name: check.verdict for check in checks} == {
        "one_voice": pf.Verdict.NOT_CHECKED,
        "same_voice": pf.Verdict.NOT_CHECKED,
    }
    assert pf.first_failure(checks) is None


def test_consent_in_another_voice_fails_same_voice() -> None:
    reference, other = _windows((_axis(0), 10)), _windows((_axis(1), 4), seed=1)
    checks, _ = pf.voice_checks(reference, other, LIMITS)
    failed = pf.first_failure(checks)
    assert failed is not None and failed.kind.code == "CONSENT_VOICE_MISMATCH"
    same, _ = pf.voice_checks(reference, _windows((_axis(0), 4), seed=2), LIMITS)
    assert pf.first_failure(same) is None


def test_reference_with_two_voices_fails_one_voice_first() -> None:
    reference = _windows((_axis(0), 8), (_axis(1), 8))
    checks, voices = pf.voice_checks(reference, _windows((_axis(0), 4), seed=3), LIMITS)
    assert voices == 2
    failed = pf.first_failure(checks)
    assert failed is not None and failed.kind.code == "PREFLIGHT_SEVERAL_VOICES"


def test_consent_text_match_is_loose_on_spelling_and_strict_on_words() -> None:
    text = "I, Alice Example, consent to ScaiEcho enrolling my voice for diarization."
    assert text_match(text, text) == 1.0
    assert text_match(text, "I Alice example consent to Sky Echo enrolling my voice for diarisation") >= 0.8
    assert text_match(text, "The weather is fine and we will meet again on Tuesday afternoon.") < 0.4
    assert text_match("", "anything") == 0.0


def test_preflight_view_reports_every_check_and_the_first_failure_code() -> None:
    quiet = pf.Measures(5.0, 4.5, -60.0, -40.0, 0.0, 30.0)
    checks = pf.audio_checks("reference", quiet, LIMITS)
    view = pf.preflight_view(quiet, quiet, checks)
    assert view["passed"] is False
    assert [(c["check"], c["verdict"], c["code"]) for c in view["checks"]] == [
        ("speech", "pass", None),
        ("level", "fail", "PREFLIGHT_TOO_QUIET"),
        ("clipping", "pass", None),
        ("snr", "pass", None),
    ]
