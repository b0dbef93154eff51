"""Access log as ASGI middleware, with credentials redacted from query strings.

uvicorn's own access log prints raw query strings (``?token=sgk_...``); the stub turns it off
and logs through this instead.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from litestar.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("host_stub.access")
SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "key"})


def redact_query(raw: bytes) -> str:
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    redacted = [(k, "[REDACTED]" if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
    return urlencode(redacted, quote_via=quote, safe="[]")


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": None}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            elif message["type"] == "websocket.close" and status["code"] is None:
                status["code"] = message.get("code", 1000)
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            query = redact_query(scope.get("query_string", b""))
            path = scope["path"] + (f"?{query}" if query else "")
            client = scope.get("client") or ("-", 0)
            logger.info(
                '%s - "%s %s" %s %.1fms',
                client[0],
                scope.get("method", "WS"),
                path,
                status["code"],
                (time.perf_counter() - started) * 1000,
            )

    return middleware
