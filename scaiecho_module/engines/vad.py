"""Streaming voice activity detection: Silero VAD v6 (the ONNX file faster-whisper ships).

The model is stateful over a sequence of 32 ms frames (512 samples plus 64 samples of
context, LSTM state ``h``/``c``), so a live session feeds only the new audio and keeps the
state: cost per second of audio is constant, however long the utterance.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray

FRAME = 512
CONTEXT = 64
FRAME_SECONDS = FRAME / SAMPLE_RATE

_session: Any = None
_session_lock = threading.Lock()


def _vad_session() -> Any:
    """One ONNX session for the process (``run`` is thread-safe); loaded on first use."""
    global _session  # noqa: PLW0603 - a process-wide model, loaded once
    with _session_lock:
        if _session is None:
            import faster_whisper
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = 1
            options.intra_op_num_threads = 1
            options.log_severity_level = 4
            path = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
            _session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _session


@dataclass
class FrameVad:
    """Speech probability per 32 ms frame for an audio stream fed in arbitrary pieces."""

    _h: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), dtype=np.float32))
    _c: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), dtype=np.float32))
    _context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, dtype=np.float32))
    _leftover: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def feed(self, audio: AudioArray) -> np.ndarray:
        samples = np.concatenate([self._leftover, audio]) if len(self._leftover) else audio
        whole = len(samples) // FRAME * FRAME
        self._leftover = samples[whole:].copy()
        if not whole:
            return np.zeros(0, dtype=np.float32)
        frames = samples[:whole].reshape(-1, FRAME)
        contexts = np.vstack([self._context[None, :], frames[:-1, -CONTEXT:]])
        batch = np.concatenate([contexts, frames], axis=1).astype(np.float32, copy=False)
        probs, self._h, self._c = _vad_session().run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = frames[-1, -CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1)


class Event(Enum):
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"
    NOISE = "noise"  # a burst too short to be speech ended: forget its start


@dataclass
class UtteranceTracker:
    """Turns frame probabilities into utterance boundaries (Silero's hysteresis rules).

    Speech starts at a frame above ``threshold``; it ends once ``min_silence`` seconds stay
    below ``threshold - 0.15``. Utterances shorter than ``min_speech`` are dropped as clicks.
    Positions are in frames from the start of the stream.
    """

    threshold: float = 0.5
    min_silence: float = 0.5
    min_speech: float = 0.25
    frame: int = 0
    speech_start: int | None = None
    _last_speech: int = 0

    @property
    def quiet_frames(self) -> int:
        """While speech runs: frames since its last speech frame (0 while it is heard)."""
        return 0 if self.speech_start is None else max(0, self.frame - 1 - self._last_speech)

    @property
    def speech_end(self) -> int | None:
        """While speech runs: the frame its end event will name if no more speech comes."""
        return None if self.speech_start is None else self._last_speech + 1

    def update(self, probs: np.ndarray) -> list[tuple[Event, int]]:
        events: list[tuple[Event, int]] = []
        low = self.threshold - 0.15
        silence_frames = int(self.min_silence / FRAME_SECONDS)
        for prob in probs:
            if prob >= self.threshold:
                if self.speech_start is None:
                    self.speech_start = self.frame
                    events.append((Event.SPEECH_START, self.frame))
                self._last_speech = self.frame
            elif (
                self.speech_start is not None
                and prob < low
                and self.frame - self._last_speech >= silence_frames
            ):
                end = self._last_speech + 1
                long_enough = (end - self.speech_start) * FRAME_SECONDS >= self.min_speech
                events.append((Event.SPEECH_END if long_enough else Event.NOISE, end))
                self.speech_start = None
            self.frame += 1
        return events
