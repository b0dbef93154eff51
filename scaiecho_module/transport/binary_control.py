"""Control frames inside a binary stream: what ``websocat -b`` makes of the spec's snippet.

``{ echo '{"type":"open",...}'; cat meeting.wav; echo '{"type":"close"}'; } | websocat -b``
sends one byte stream cut into binary messages at arbitrary points. Two places in it are
recognised as control text, nowhere else:

- the open frame: a stream whose very first byte is ``{`` starts with a JSON line, read up
  to its newline (``OpenLine``; WAV bytes may follow in the same message);
- after a WAV: ``WavTail`` follows the RIFF chunks of an ``audio/wav`` stream, and the
  bytes after the last chunk (past the data chunk's declared end) are JSON lines. A data
  chunk of unknown size (0 or 0xFFFFFFFF, a streaming WAV) never ends: nothing is guessed.

Pure: bytes in, pieces out; the WebSocket reader feeds them to the session.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scaiecho_module.errors import MALFORMED_FRAME, ScaiEchoError

MAX_LINE = 64 * 1024  # a control line longer than this is not one
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
_TEXT_START = frozenset(b"{ \t\r\n")


def _too_long() -> ScaiEchoError:
    return ScaiEchoError(MALFORMED_FRAME, "a control line in the binary stream is too long")


class OpenLine:
    """The stream's first JSON line, gathered across messages."""

    def __init__(self) -> None:
        self._buffer = b""

    @staticmethod
    def starts(data: bytes) -> bool:
        return data[:1] == b"{"

    def feed(self, data: bytes) -> tuple[str, bytes] | None:
        """``(line, rest)`` once the newline has arrived, else None (send more)."""
        self._buffer += data
        line, newline, rest = self._buffer.partition(b"\n")
        if not newline:
            if len(self._buffer) > MAX_LINE:
                raise _too_long()
            return None
        if len(line) > MAX_LINE:
            raise _too_long()
        return line.decode("utf-8", "replace").strip(), rest


@dataclass(frozen=True, slots=True)
class Audio:
    data: bytes


@dataclass(frozen=True, slots=True)
class Control:
    text: str


Piece = Audio | Control


class WavTail:
    """Splits an ``audio/wav`` byte stream into the WAV (as audio) and the JSON lines after it."""

    def __init__(self) -> None:
        self._header = b""  # bytes of a RIFF or chunk header not yet complete
        self._at_riff = True  # the 12-byte RIFF/WAVE header comes first
        self._skip = 0  # payload bytes of the current chunk still to pass through
        self._seen_data = False
        self._endless = False  # not a WAV we can follow, or a data chunk of unknown size
        self._text: bytearray | None = None  # after the WAV: control text

    def feed(self, data: bytes) -> list[Piece]:
        pieces: list[Piece] = []
        audio = bytearray()
        view = memoryview(data)
        while view:
            if self._text is not None:
                self._text += view
                break
            if self._endless:
                audio += view
                break
            if self._skip:
                step = min(self._skip, len(view))
                audio += view[:step]
                self._skip -= step
                view = view[step:]
                continue
            if self._seen_data and not self._header and view[0] in _TEXT_START:
                self._text = bytearray()  # the WAV is over: the rest is control text
                continue
            need = (12 if self._at_riff else 8) - len(self._header)
            take = bytes(view[:need])
            self._header += take
            audio += take
            view = view[len(take) :]
            if len(take) == need:
                self._header_done()
        if audio:
            pieces.append(Audio(bytes(audio)))
        pieces += self._lines()
        return pieces

    def _header_done(self) -> None:
        header, self._header = self._header, b""
        if self._at_riff:
            self._at_riff = False
            self._endless = header[:4] != b"RIFF" or header[8:12] != b"WAVE"
            return
        chunk_id, size = header[:4], struct.unpack("<I", header[4:8])[0]
        if chunk_id == b"data":
            self._seen_data = True
            if size in _UNKNOWN_SIZES:
                self._endless = True  # a streaming WAV: its end cannot be told, so never guessed
                return
        self._skip = size + (size & 1)  # RIFF pads odd chunks to an even length

    def _lines(self) -> list[Piece]:
        if self._text is None:
            return []
        pieces: list[Piece] = []
        while (newline := self._text.find(b"\n")) >= 0:
            line = bytes(self._text[:newline]).decode("utf-8", "replace").strip()
            del self._text[: newline + 1]
            if line:
                pieces.append(Control(line))
        if len(self._text) > MAX_LINE:
            raise _too_long()
        return pieces

    def finish(self) -> list[Piece]:
        """A last line without its newline (the stream ended or went quiet)."""
        if self._text is None:
            return []
        line = bytes(self._text).decode("utf-8", "replace").strip()
        self._text.clear()
        return [Control(line)] if line else []
