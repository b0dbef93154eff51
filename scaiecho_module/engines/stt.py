"""The STT engine: faster-whisper (CTranslate2) over 16 kHz mono float32 audio.

Used by the in-process node directly and, later, by the Triton model repository's Python
backend, so nothing here knows about HTTP, tenants or nodes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000


def supported_languages() -> frozenset[str]:
    """ISO 639-1 codes Whisper knows; English-only models still accept (and ignore) them."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


AudioArray = npt.NDArray[np.float32]

# A segment Whisper itself thinks is probably not speech, decoded with low confidence, is the
# classic hallucination ("Thank you.", "Subtitles by ..."): drop it.
_NO_SPEECH_DROP = 0.6
_LOGPROB_DROP = -1.0


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: tuple[Segment, ...]
    language: str
    language_probability: float
    duration_seconds: float

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text).strip()


class SttEngine(Protocol):
    model_name: str

    def transcribe(self, audio: AudioArray, language: str | None = None) -> Transcript: ...


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5
    device: str = "cpu"


class WhisperEngine:
    """One loaded Whisper model. ``transcribe`` is blocking: call it off the event loop."""

    def __init__(self, model_dir: Path, model_name: str, options: WhisperOptions | None = None) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.vad import VadOptions

        self.options = options or WhisperOptions()
        self.model_name = model_name
        self._model = WhisperModel(
            str(model_dir),
            device=self.options.device,
            compute_type=self.options.compute_type,
            cpu_threads=self.options.cpu_threads,
            local_files_only=True,
        )
        self._vad = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200)
        # CTranslate2 serialises per model replica anyway; the lock makes that explicit and
        # keeps concurrent callers from oversubscribing the CPU threads.
        self._lock = threading.Lock()

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def has_speech(self, audio: AudioArray) -> bool:
        from faster_whisper.vad import get_speech_timestamps

        return bool(get_speech_timestamps(audio, self._vad))

    def transcribe(self, audio: AudioArray, language: str | None = None) -> Transcript:
        duration = float(len(audio)) / SAMPLE_RATE
        if not self.multilingual:
            language = "en"
        if duration == 0.0 or not self.has_speech(audio):
            # Silence or noise: answer empty rather than letting Whisper invent words.
            return Transcript((), language or "", 0.0, duration)
        with self._lock:
            raw_segments, info = self._model.transcribe(
                audio,
                language=language,
                beam_size=self.options.beam_size,
                vad_filter=True,
                vad_parameters=self._vad,
                condition_on_previous_text=False,
                no_speech_threshold=_NO_SPEECH_DROP,
                log_prob_threshold=_LOGPROB_DROP,
            )
            segments = tuple(_keep(s) for s in raw_segments)
        kept = tuple(s for s in segments if s is not None)
        return Transcript(kept, info.language, float(info.language_probability), duration)


def _keep(segment: Any) -> Segment | None:
    text = str(segment.text).strip()
    if not text:
        return None
    if segment.no_speech_prob > _NO_SPEECH_DROP and segment.avg_logprob < _LOGPROB_DROP:
        return None
    return Segment(round(float(segment.start), 3), round(float(segment.end), 3), text)
