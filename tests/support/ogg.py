"""Long Ogg/Opus streams without encoding them: an encoded file's audio pages, repeated.

Encoding hours of silence takes minutes; repeating its pages with renumbered sequence and
granule positions (and their CRCs) gives a valid stream of the same length in milliseconds.
"""

from __future__ import annotations

import struct

_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, segments


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def _crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _pages(data: bytes) -> list[tuple[tuple[int, ...], bytes]]:
    pages, pos = [], 0
    while pos < len(data):
        fields = _HEADER.unpack_from(data, pos)
        segments = data[pos + _HEADER.size : pos + _HEADER.size + fields[7]]
        size = _HEADER.size + fields[7] + sum(segments)
        pages.append((fields, data[pos + _HEADER.size : pos + size]))
        pos += size
    return pages


def repeat_audio(data: bytes, times: int) -> bytes:
    """``data`` (an Ogg/Opus file) with its audio played ``times`` over, as one stream."""
    pages = _pages(data)
    heads, audio = pages[:2], pages[2:]
    span = audio[-1][0][3]  # the last granule position: the audio's length in 48 kHz samples
    out, seq = bytearray(), 0
    for round_ in range(times):
        for fields, body in heads if round_ == 0 else []:
            out += _page(fields, body, fields[3], seq, fields[2])
            seq += 1
        for index, (fields, body) in enumerate(audio):
            last = round_ == times - 1 and index == len(audio) - 1
            flags = (fields[2] & ~0x04) | (0x04 if last else 0)  # end of stream only at the very end
            out += _page(fields, body, fields[3] + round_ * span, seq, flags)
            seq += 1
    return bytes(out)


def _page(fields: tuple[int, ...], body: bytes, granule: int, seq: int, flags: int) -> bytes:
    head = _HEADER.pack(fields[0], fields[1], flags, granule, fields[4], seq, 0, fields[7])
    page = head + body
    return page[:22] + struct.pack("<I", _crc(page)) + page[26:]
