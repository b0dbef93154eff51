"""Uploads that would decode to far more audio (or memory) than their size are refused up front."""

from __future__ import annotations

import io
import struct

import pytest

from scaiecho_module.audio.decode import decode_file, probe
from scaiecho_module.errors import ScaiEchoError


def _wav(rate: int, channels: int, bits: int, frames: int) -> bytes:
    """A plain PCM WAV with silence; header fields exactly as given."""
    width = bits // 8
    data = bytes([128 if bits == 8 else 0]) * (frames * channels * width)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_an_eight_bit_wav_at_one_hertz_is_refused_before_it_decodes() -> None:
    bomb = _wav(rate=1, channels=1, bits=8, frames=1790)  # 1,834 bytes that would decode to 1790 s
    assert len(bomb) == 1834
    for check in (probe, decode_file):
        with pytest.raises(ScaiEchoError) as raised:
            check(io.BytesIO(bomb))
        assert raised.value.kind.code == "AUDIO_UNDECODABLE"
        assert "sample rate 1 Hz" in raised.value.message


def test_more_channels_than_any_recording_needs_are_refused() -> None:
    with pytest.raises(ScaiEchoError) as raised:
        decode_file(io.BytesIO(_wav(rate=16000, channels=32, bits=16, frames=1600)))
    assert "32 channels" in raised.value.message


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 2), (48000, 8)])
def test_ordinary_rates_and_channel_counts_decode(rate: int, channels: int) -> None:
    audio = decode_file(io.BytesIO(_wav(rate=rate, channels=channels, bits=16, frames=rate // 2)))
    assert abs(len(audio) - 8000) <= 64  # half a second at 16 kHz


def test_a_wav_whose_codec_has_no_decoder_is_undecodable_not_a_crash() -> None:
    wav = bytearray(_wav(rate=16000, channels=1, bits=16, frames=1600))
    wav[20] = 0  # format tag 0: no codec (the fuzz suite's find; it was a 500)
    for check in (probe, decode_file):
        with pytest.raises(ScaiEchoError) as raised:
            check(io.BytesIO(bytes(wav)))
        assert raised.value.kind.code == "AUDIO_UNDECODABLE"
