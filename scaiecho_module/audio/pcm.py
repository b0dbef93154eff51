"""The module's one audio format, 16 kHz mono float32 in [-1, 1], and its PCM conversions.

Bottom layer: imports nothing of the module. Decoders produce this format, engines and
nodes consume it, and the relay sends it on as 16-bit PCM.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000

AudioArray = npt.NDArray[np.float32]


def empty() -> AudioArray:
    return np.zeros(0, dtype=np.float32)


def from_pcm(data: bytes, dtype: np.dtype[np.generic], scale: float) -> AudioArray:
    """Interleaved integer (or float, ``scale`` 1.0) PCM samples as float32, divided by ``scale``."""
    return np.frombuffer(data, dtype=dtype).astype(np.float32) / scale


def pcm16(audio: AudioArray) -> bytes:
    """16-bit little-endian PCM, the inverse of the decoders' ``sample / 32768``.

    Rounded at the same scale, audio that arrived as 16-bit PCM goes to the relay exactly as
    it came in, so a relay running the same model hears what Backend A would have heard.
    """
    return np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes()
