"""uvicorn's h11 protocol, hardened at the connection level, before any ASGI app runs.

- A request h11 cannot parse (``Content-Length: -1``, two different lengths, a bad request line)
  is answered with the API's error envelope instead of uvicorn's plain text; headers larger
  than the limit are ``431`` (h11's own hint), not ``400``.
- Request headers must be complete within ``header_timeout`` of the connection opening (or of
  the previous response): 300 connections that never finish their headers would otherwise be
  held forever, since uvicorn's keep-alive timer stops at the first byte.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from litestar.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

_H11_DEFAULT_LIMIT = 16 * 1024  # h11's own default incomplete-event size

_CODES = {400: "VALIDATION_ERROR", 408: "REQUEST_TIMEOUT", 431: "REQUEST_HEADER_TOO_LARGE"}
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


def error_response(status: int, message: str) -> bytes:
    body = json.dumps({"error": {"code": _CODES[status], "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _RecordingConnection(h11.Connection):
    """Keeps the protocol error h11 raised, for its status hint (431 for oversized headers)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.last_error = exc
            raise


class GuardedH11Protocol(H11Protocol):
    header_timeout: float = 10.0  # set by ``scaigrid-stub serve`` from SCAIGRID_HEADER_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.h11_max_incomplete_event_size or _H11_DEFAULT_LIMIT
        self.conn = self._recording = _RecordingConnection(h11.SERVER, limit)
        self._header_timer: asyncio.TimerHandle | None = None

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._in_request() or self.transport.is_closing():
            return
        # No request is in progress, so h11 has nothing to answer: write the 408 ourselves.
        self.transport.write(error_response(408, "request headers were not complete in time"))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_request():
            self._disarm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # The connection now belongs to the WebSocket protocol: no header deadline any more.
        self._disarm()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers get the same deadline

    def send_400_response(self, msg: str) -> None:
        error = self._recording.last_error
        status = 431 if error is not None and error.error_status_hint == 431 else 400
        message = "request headers are too large" if status == 431 else "malformed HTTP request"
        if error is not None and status == 400:
            message = f"malformed HTTP request: {error}"
        self._disarm()
        self.transport.write(error_response(status, message))
        self.transport.close()


MAX_HEADER_BYTES = 16 * 1024


def header_limit_middleware(app: ASGIApp) -> ASGIApp:
    """431 for request headers over :data:`MAX_HEADER_BYTES` in total.

    h11 only bounds headers that arrive in pieces; a 100 KB header block read in one go
    passes it whole, so the limit is applied again once the request is parsed.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        kind = str(scope["type"])
        if kind in ("http", "websocket"):
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > MAX_HEADER_BYTES:
                if kind == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "headers too large"})
                    return
                body = json.dumps(
                    {"error": {"code": _CODES[431], "message": "request headers are too large"}}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 431,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})  # type: ignore[arg-type]
                return
        await app(scope, receive, send)

    return middleware
