"""Speech detection for services: Silero VAD frame probabilities (services do not reach engines)."""

from __future__ import annotations

import numpy as np

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.engines.vad import FRAME, FrameVad

SPEECH_FRAME = FRAME  # samples per probability (32 ms at 16 kHz)


def speech_probabilities(audio: AudioArray) -> np.ndarray:
    """One speech probability per whole 32 ms frame of ``audio``."""
    return FrameVad().feed(audio)
