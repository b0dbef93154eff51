"""Live decoders for raw PCM and WAV streams: bytes in arbitrary chunks, 16 kHz float32 out."""

from __future__ import annotations

import io
import struct
import wave
from typing import Any

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.audio.stream_decode import make_decoder
from scaiecho_module.errors import ScaiEchoError

PCM = np.array([0, 1, -1, 32767, -32768, 12345, -2222, 7], dtype=np.int16)


def _nothing(_: Any) -> None:
    raise AssertionError("PCM and WAV decoders return audio; they never deliver it")


def _decode(media_type: str, data: bytes, chunk: int) -> np.ndarray:
    decoder = make_decoder(media_type, _nothing)
    out = [block for i in range(0, len(data), chunk) for block in decoder.feed(data[i : i + chunk])]
    out += decoder.finish()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _wav(samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def _error(media_type: str, data: bytes) -> ScaiEchoError:
    with pytest.raises(ScaiEchoError) as info:
        _decode(media_type, data, 4096)
    return info.value


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_pcm_split_anywhere_decodes_to_the_same_samples(chunk: int) -> None:
    audio = _decode("audio/pcm", PCM.astype("<i2").tobytes(), chunk)
    np.testing.assert_array_equal(audio, PCM.astype(np.float32) / 32768)
    assert audio.dtype == np.float32


def test_l16_is_big_endian_and_pcm_little_endian() -> None:
    big = _decode("audio/l16", PCM.astype(">i2").tobytes(), 5)
    little = _decode("audio/pcm", PCM.astype("<i2").tobytes(), 5)
    np.testing.assert_array_equal(big, little)


def test_stereo_pcm_is_mixed_to_mono() -> None:
    left, right = np.array([1000, -2000, 300], dtype=np.int16), np.array([3000, 2000, -300], dtype=np.int16)
    stereo = np.column_stack([left, right]).reshape(-1)
    audio = _decode("audio/pcm;channels=2", stereo.astype("<i2").tobytes(), 3)
    np.testing.assert_allclose(audio, (left.astype(np.float32) + right) / 2 / 32768)


def test_pcm_at_another_rate_is_resampled_to_16_khz() -> None:
    seconds = 1.0
    t = np.arange(int(8000 * seconds)) / 8000
    tone = (10000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    audio = _decode("audio/pcm;rate=8000", tone.astype("<i2").tobytes(), 999)
    assert abs(len(audio) - SAMPLE_RATE * seconds) <= 64
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * SAMPLE_RATE / len(audio) == pytest.approx(440, abs=3)


@pytest.mark.parametrize(
    "media_type",
    ["audio/pcm;rate=abc", "audio/pcm;channels=two", "audio/pcm;rate=7999", "audio/pcm;rate=192001",
     "audio/l16;channels=0", "audio/l16;channels=9"],
)  # fmt: skip
def test_pcm_parameters_that_are_not_integers_or_out_of_range_are_validation_errors(media_type: str) -> None:
    with pytest.raises(ScaiEchoError) as info:
        make_decoder(media_type, _nothing)
    assert (info.value.kind.code, info.value.details) == ("VALIDATION_ERROR", {"field": "media_type"})


@pytest.mark.parametrize("chunk", [1, 11, 44, 45, 4096])
def test_a_wav_header_split_anywhere_is_parsed(chunk: int) -> None:
    audio = _decode("audio/wav", _wav(PCM), chunk)
    np.testing.assert_array_equal(audio, PCM.astype(np.float32) / 32768)


def test_a_float_wav_is_decoded() -> None:
    samples = np.array([0.0, 0.5, -0.25, 1.0], dtype="<f4")
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 16)
    data = b"RIFF" + struct.pack("<I", len(body) + 16) + body + samples.tobytes()
    np.testing.assert_array_equal(_decode("audio/wav", data, 7), samples)


def test_a_stream_that_is_not_riff_is_undecodable() -> None:
    assert _error("audio/wav", b"OggS" + bytes(100)).kind.code == "AUDIO_UNDECODABLE"
    assert _error("audio/wav", b"RIFF\x00\x00\x00\x00AVI " + bytes(100)).kind.code == "AUDIO_UNDECODABLE"


def test_a_stream_that_ends_inside_the_wav_header_is_undecodable() -> None:
    assert _error("audio/wav", _wav(PCM)[:30]).kind.code == "AUDIO_UNDECODABLE"


def test_a_wav_without_a_data_chunk_in_its_first_64_kib_is_undecodable() -> None:
    junk = b"junk" + struct.pack("<I", 100_000) + bytes(100_000)
    assert _error("audio/wav", b"RIFF\x00\x00\x00\x00WAVE" + junk).kind.code == "AUDIO_UNDECODABLE"


def test_a_wav_data_chunk_before_its_fmt_chunk_is_undecodable() -> None:
    data = b"RIFF\x00\x00\x00\x00WAVE" + b"data" + struct.pack("<I", 4) + bytes(4)
    assert _error("audio/wav", data).kind.code == "AUDIO_UNDECODABLE"


def test_8_bit_wav_is_an_unsupported_media_type() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE, 1, 8)
    data = (
        b"RIFF\x00\x00\x00\x00WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data\x04\x00\x00\x00"
        + bytes(4)
    )
    assert _error("audio/wav", data).kind.code == "UNSUPPORTED_MEDIA_TYPE"


def test_an_implausible_wav_format_is_undecodable() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 4000, 8000, 2, 16)  # 4 kHz
    data = (
        b"RIFF\x00\x00\x00\x00WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data\x04\x00\x00\x00"
        + bytes(4)
    )
    assert _error("audio/wav", data).kind.code == "AUDIO_UNDECODABLE"
