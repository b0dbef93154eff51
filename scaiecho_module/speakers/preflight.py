"""The enrollment preflight: pure functions over decoded audio (16 kHz mono float32).

Each measure is a number a client can act on (more speech, less gain, a quieter room); each
check compares one measure with a threshold and gives a verdict. Checks that need speaker
embeddings (one voice in the reference, the consent in the same voice) take ``VoiceWindows``
from a speaker node; with no node online they are ``not_checked`` and run when one lands.
Nothing here stores anything: a failed preflight leaves no row and no blob.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.node import VoiceWindows
from scaiecho_module.backends.speech import SPEECH_FRAME as FRAME
from scaiecho_module.backends.speech import speech_probabilities
from scaiecho_module.errors import (
    CONSENT_TEXT_MISMATCH,
    CONSENT_VOICE_MISMATCH,
    PREFLIGHT_CLIPPING,
    PREFLIGHT_SEVERAL_VOICES,
    PREFLIGHT_TOO_LITTLE_SPEECH,
    PREFLIGHT_TOO_NOISY,
    PREFLIGHT_TOO_QUIET,
    ErrorKind,
)

_FLOOR = 1e-10


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True, slots=True)
class Thresholds:
    reference_min_speech_seconds: float = 4.0
    consent_min_speech_seconds: float = 1.0
    min_level_dbfs: float = -40.0
    max_clipped_fraction: float = 0.001
    min_snr_db: float = 12.0
    # Cosine similarity of window embeddings: above it, two windows are one voice (CAM++ on
    # real speech clusters at about 0.4, RESOURCES.md).
    same_voice_windows: float = 0.4
    # A second voice counts when it holds this share of the reference's windows.
    second_voice_share: float = 0.15
    # Consent voice vs reference voice (whole recordings): the same LibriVox reader scores 0.92,
    # the two voices of the pyannote call 0.45, another voice against the reader 0.14.
    same_voice_recordings: float = 0.6
    consent_text_match: float = 0.7


@dataclass(frozen=True, slots=True)
class Measures:
    """What was measured in one recording (no biometric data: levels and counts only)."""

    duration_seconds: float
    speech_seconds: float
    level_dbfs: float
    peak_dbfs: float
    clipped_fraction: float
    snr_db: float
    voices: int | None = None

    def view(self) -> dict[str, Any]:
        return {key: (round(v, 4) if isinstance(v, float) else v) for key, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    recording: str  # "reference" or "consent"
    verdict: Verdict
    measured: float | int | None
    threshold: float | None
    kind: ErrorKind
    reason: str

    def view(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "recording": self.recording,
            "verdict": self.verdict.value,
            "measured": round(self.measured, 4) if isinstance(self.measured, float) else self.measured,
            "threshold": self.threshold,
            "code": self.kind.code if self.verdict is Verdict.FAIL else None,
            "reason": self.reason,
        }


def _db(power: float) -> float:
    return float(10 * np.log10(max(power, _FLOOR)))


def measure(audio: AudioArray) -> Measures:
    """Duration, speech (Silero VAD), active speech level, clipping and an SNR estimate."""
    duration = len(audio) / SAMPLE_RATE
    frames = len(audio) // FRAME
    if frames == 0:
        return Measures(round(duration, 3), 0.0, -100.0, -100.0, 0.0, 0.0)
    probs = speech_probabilities(audio[: frames * FRAME])
    framed = audio[: frames * FRAME].reshape(frames, FRAME).astype(np.float64)
    power = np.mean(framed**2, axis=1)
    speech = probs >= 0.5
    speech_power = float(np.mean(power[speech])) if speech.any() else 0.0
    # Noise floor: the quieter of the frames the VAD calls non-speech and the 10th percentile of
    # all frames (continuous speech in steady noise has no non-speech frames to listen to).
    floors = [float(np.percentile(power, 10))]
    if (~speech).sum() >= 5:
        floors.append(float(np.median(power[~speech])))
    noise_power = max(min(floors), _FLOOR)
    peak = float(np.max(np.abs(audio)))
    # Samples at full scale in runs: a clipped converter holds the rail for several samples.
    at_rail = np.abs(audio) >= 0.99
    clipped = at_rail[1:] & at_rail[:-1]
    return Measures(
        duration_seconds=round(duration, 3),
        speech_seconds=round(float(speech.sum()) * FRAME / SAMPLE_RATE, 3),
        level_dbfs=round(_db(speech_power), 2),
        peak_dbfs=round(20 * float(np.log10(max(peak, 1e-5))), 2),
        clipped_fraction=float(clipped.mean()) if len(clipped) else 0.0,
        snr_db=round(_db(speech_power) - _db(noise_power), 2) if speech.any() else 0.0,
    )


def count_voices(windows: VoiceWindows, limits: Thresholds) -> int:
    """Distinct voices among the windows (average-linkage clustering on cosine similarity).

    A voice counts when it holds at least ``second_voice_share`` of the windows, so a cough
    or a word from someone passing by does not fail an otherwise clean reference.
    """
    vectors = np.asarray(windows.vectors, dtype=np.float64)
    if len(vectors) == 0:
        return 0
    clusters: list[list[int]] = [[i] for i in range(len(vectors))]
    sim = vectors @ vectors.T
    while len(clusters) > 1:
        best, pair = -2.0, (0, 0)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                score = float(np.mean(sim[np.ix_(clusters[a], clusters[b])]))
                if score > best:
                    best, pair = score, (a, b)
        if best < limits.same_voice_windows:
            break
        a, b = pair
        clusters[a] += clusters.pop(b)
    least = max(1, int(np.ceil(limits.second_voice_share * len(vectors))))
    return max(1, sum(1 for cluster in clusters if len(cluster) >= least))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), _FLOOR))


def audio_checks(recording: str, found: Measures, limits: Thresholds) -> list[Check]:
    """The checks on one recording's signal, in the order a client should fix them."""
    min_speech = (
        limits.reference_min_speech_seconds if recording == "reference" else limits.consent_min_speech_seconds
    )
    checks = [
        _check(
            "speech", recording, found.speech_seconds >= min_speech, found.speech_seconds, min_speech,
            PREFLIGHT_TOO_LITTLE_SPEECH,
            f"{found.speech_seconds:.1f} s of speech; at least {min_speech:g} s are needed",
        ),
        _check(
            "level", recording, found.level_dbfs >= limits.min_level_dbfs, found.level_dbfs,
            limits.min_level_dbfs, PREFLIGHT_TOO_QUIET,
            f"speech at {found.level_dbfs:.1f} dBFS; record closer to the microphone (at least "
            f"{limits.min_level_dbfs:g} dBFS)",
        ),
        _check(
            "clipping", recording, found.clipped_fraction <= limits.max_clipped_fraction,
            found.clipped_fraction, limits.max_clipped_fraction, PREFLIGHT_CLIPPING,
            f"{found.clipped_fraction:.2%} of the samples are clipped at full scale; lower the input gain",
        ),
        _check(
            "snr", recording, found.snr_db >= limits.min_snr_db, found.snr_db, limits.min_snr_db,
            PREFLIGHT_TOO_NOISY,
            f"speech is {found.snr_db:.1f} dB above the background; at least {limits.min_snr_db:g} dB "
            "are needed (record in a quieter place)",
        ),
    ]  # fmt: skip
    return checks


def voice_checks(
    reference: VoiceWindows | None, consent: VoiceWindows | None, limits: Thresholds
) -> tuple[list[Check], int | None]:
    """One voice in the reference, and the consent spoken by it; ``not_checked`` without a node."""
    if reference is None or consent is None:
        reason = "no speaker node is online; checked when one is"
        deferred = Verdict.NOT_CHECKED
        return [
            Check("one_voice", "reference", deferred, None, None, PREFLIGHT_SEVERAL_VOICES, reason),
            Check("same_voice", "consent", deferred, None, limits.same_voice_recordings,
                  CONSENT_VOICE_MISMATCH, reason),
        ], None  # fmt: skip
    voices = count_voices(reference, limits)
    one = _check(
        "one_voice", "reference", voices == 1, voices, 1.0, PREFLIGHT_SEVERAL_VOICES,
        "one voice" if voices == 1 else f"{voices} voices; the reference must hold the speaker alone",
    )  # fmt: skip
    if reference.voice is None or consent.voice is None:
        same = Check(
            "same_voice", "consent", Verdict.FAIL, None, limits.same_voice_recordings,
            CONSENT_VOICE_MISMATCH, "too little speech to compare the two voices",
        )  # fmt: skip
    else:
        score = cosine(reference.voice, consent.voice)
        same = _check(
            "same_voice", "consent", score >= limits.same_voice_recordings, score,
            limits.same_voice_recordings, CONSENT_VOICE_MISMATCH,
            "the consent is spoken by the reference's voice" if score >= limits.same_voice_recordings
            else "the consent recording is not in the reference recording's voice",
        )  # fmt: skip
    return [one, same], voices


def text_check(score: float, limits: Thresholds) -> Check:
    return _check(
        "consent_text", "consent", score >= limits.consent_text_match, score, limits.consent_text_match,
        CONSENT_TEXT_MISMATCH,
        "the consent recording says the consent text" if score >= limits.consent_text_match
        else "the consent recording does not say the consent_text",
    )  # fmt: skip


def _check(
    name: str, recording: str, ok: bool, measured: float | int, threshold: float, kind: ErrorKind, reason: str
) -> Check:
    return Check(name, recording, Verdict.PASS if ok else Verdict.FAIL, measured, threshold, kind, reason)


def first_failure(checks: list[Check]) -> Check | None:
    return next((check for check in checks if check.verdict is Verdict.FAIL), None)


def preflight_view(reference: Measures, consent: Measures, checks: list[Check]) -> dict[str, Any]:
    """The ``preflight`` block of a 201 and of every 422: the same shape either way."""
    return {
        "passed": first_failure(checks) is None,
        "reference": reference.view(),
        "consent": consent.view(),
        "checks": [check.view() for check in checks],
    }
