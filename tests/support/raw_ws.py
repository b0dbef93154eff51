"""A WebSocket client on a bare TCP socket: it can stop reading, send until the server's
backpressure stalls it, and vanish with an RST (SO_LINGER 0) at a moment of its choosing.

A library client reads in a thread of its own; closing its socket from another thread
while that thread sits in ``recv()`` does not reset the connection (the blocked call holds
the socket open). Here nothing else touches the socket, so ``reset()`` is an RST at once.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from tests.support.ws import ws_url

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


def _frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    keys = np.resize(np.frombuffer(mask, np.uint8), size)
    return head + mask + (np.frombuffer(payload, np.uint8) ^ keys).tobytes()


class RawClient:
    def __init__(self, api: str, token: str, send_buffer: int = 64 * 1024) -> None:
        url = urlsplit(ws_url(api, token))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)  # stalls sooner
        self.sock.settimeout(10)
        self.sock.connect((url.hostname, url.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self.sock.recv(4096)
        status, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        assert status.startswith(b"HTTP/1.1 101"), status

    def send_text(self, data: dict[str, Any]) -> None:
        self.sock.sendall(_frame(TEXT, json.dumps(data).encode()))

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def send_binary(self, data: bytes) -> None:
        self.sock.sendall(_frame(BINARY, data))

    def send_close(self, code: int = 1000) -> None:
        """A Close frame: this side sends nothing more, as websocat at the end of its input."""
        self.sock.sendall(_frame(CLOSE, struct.pack("!H", code)))

    def recv_frame(self) -> tuple[int, bytes]:
        """The next text, binary or close frame (server pings skipped): (opcode, payload)."""
        while True:
            first, second = self._exactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._exactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._exactly(8))
            payload = self._exactly(size)
            if first & 0x0F in (TEXT, BINARY, CLOSE):
                return first & 0x0F, payload

    def recv_json(self) -> dict[str, Any]:
        """The next text frame (server pings and other control frames skipped)."""
        while True:
            opcode, payload = self.recv_frame()
            assert opcode != CLOSE, f"the server closed: {payload!r}"
            if opcode == TEXT:
                return dict(json.loads(payload))

    def until_close(self) -> tuple[list[dict[str, Any]], int | None]:
        """Every text frame up to the server's Close, and that Close's code."""
        frames = []
        while True:
            opcode, payload = self.recv_frame()
            if opcode == CLOSE:
                return frames, (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            if opcode == TEXT:
                frames.append(dict(json.loads(payload)))

    def send_until_stalled(self, pcm: bytes, message: int, stall_seconds: float) -> int:
        """Send ``pcm`` in binary messages of ``message`` bytes as fast as the server takes
        them; stop once nothing more went out for ``stall_seconds``. Returns the PCM bytes
        handed to the kernel in whole messages (what the server can ever receive)."""
        self.sock.setblocking(False)
        pending = b""
        sent = 0
        offset = 0
        progress = time.monotonic()
        while time.monotonic() - progress < stall_seconds:
            if not pending:
                if offset >= len(pcm):
                    break
                pending = _frame(BINARY, pcm[offset : offset + message])
                offset += message
            try:
                count = self.sock.send(pending)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            pending = pending[count:]
            progress = time.monotonic()
            if not pending:
                sent = offset
        return min(sent, len(pcm))

    def reset(self) -> None:
        """Vanish with an RST, as a client whose network died."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
