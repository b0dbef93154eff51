"""Control lines inside a binary stream (``websocat -b``): the open line, and lines after a WAV."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.transport.binary_control import MAX_LINE, Audio, Control, OpenLine, Piece, WavTail

OPEN = b'{"type":"open","language_hint":"en","media_type":"audio/wav"}\n'
CLOSE = b'{"type":"close"}\n'


def _wav(frames: bytes, trailing_chunk: bytes = b"") -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)
    data = out.getvalue()
    if trailing_chunk:  # e.g. a LIST chunk after the data chunk, as some editors write
        data = data[:4] + struct.pack("<I", len(data) - 8 + len(trailing_chunk)) + data[8:] + trailing_chunk
    return data


WAV = _wav(bytes(range(256)) * 40)  # a real RIFF header from the wave module, 10240 data bytes


def _chunked(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def _split(stream: bytes, size: int) -> tuple[str, list[Piece]]:
    """Feed ``stream`` as messages of ``size`` bytes, the way the WebSocket reader does."""
    messages = _chunked(stream, size)
    line, found, pieces = OpenLine(), None, []
    while found is None:
        found = line.feed(messages.pop(0))
    text, rest = found
    tail = WavTail()
    for message in [rest, *messages]:
        pieces += tail.feed(message)
    return text, pieces + tail.finish()


def _joined(pieces: list[Piece]) -> tuple[bytes, list[str]]:
    audio = b"".join(p.data for p in pieces if isinstance(p, Audio))
    return audio, [p.text for p in pieces if isinstance(p, Control)]


@pytest.mark.parametrize(
    "size", [len(OPEN + WAV + CLOSE), 1, 7, 64, 1000, len(OPEN) + 3, len(OPEN + WAV) + 5]
)
def test_the_spec_snippets_stream_splits_into_open_wav_and_close_however_it_is_chunked(size: int) -> None:
    text, pieces = _split(OPEN + WAV + CLOSE, size)
    assert text == OPEN.decode().strip()
    audio, controls = _joined(pieces)
    assert audio == WAV  # every WAV byte, header included, and nothing else
    assert controls == ['{"type":"close"}']


def test_lines_after_the_wav_are_each_a_control_frame_even_without_a_last_newline() -> None:
    stream = WAV + b'{"type":"finalize"}\r\n\n{"type":"close"}'
    for size in (1, 5, len(stream)):
        audio, controls = _joined(_feed_all(stream, size))
        assert audio == WAV
        assert controls == ['{"type":"finalize"}', '{"type":"close"}']


def _feed_all(stream: bytes, size: int) -> list[Piece]:
    tail = WavTail()
    pieces = [p for m in _chunked(stream, size) for p in tail.feed(m)]
    return pieces + tail.finish()


def test_chunks_after_the_data_chunk_are_still_the_wav() -> None:
    trailing = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"  # odd size: padded to even
    wav = _wav(b"\x01\x02" * 500, trailing)
    for size in (1, 9, 4096):
        audio, controls = _joined(_feed_all(wav + CLOSE, size))
        assert audio == wav
        assert controls == ['{"type":"close"}']


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_a_streaming_wav_of_unknown_size_is_never_cut(size: int) -> None:
    wav = bytearray(WAV)
    wav[40:44] = struct.pack("<I", size)  # the data chunk's size field
    audio, controls = _joined(_feed_all(bytes(wav) + CLOSE, 100))
    assert audio == bytes(wav) + CLOSE  # no guess: everything goes to the decoder
    assert controls == []


def test_a_stream_that_is_not_a_wav_is_all_audio() -> None:
    stream = b"OggS" + bytes(2000) + CLOSE
    audio, controls = _joined(_feed_all(stream, 33))
    assert (audio, controls) == (stream, [])


def test_the_open_line_waits_for_its_newline() -> None:
    line = OpenLine()
    assert OpenLine.starts(OPEN) and not OpenLine.starts(WAV)
    assert line.feed(OPEN[:10]) is None
    assert line.feed(OPEN[10:-1]) is None
    assert line.feed(b"\nRIFF") == (OPEN.decode().strip(), b"RIFF")


def test_an_endless_line_is_malformed_not_buffered_forever() -> None:
    line = OpenLine()
    with pytest.raises(ScaiEchoError) as info:
        for _ in range(MAX_LINE // 1000 + 2):
            line.feed(b"{" + b"x" * 999)
    assert info.value.kind.code == "MALFORMED_FRAME"
    tail = WavTail()
    tail.feed(WAV)
    with pytest.raises(ScaiEchoError):
        tail.feed(b"{" + b"x" * (MAX_LINE + 1))
