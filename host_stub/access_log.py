"""Access log as ASGI middleware, with credentials redacted from query strings.

uvicorn's own access log prints raw query strings (``?token=sgk_...``); the stub turns it off
and logs through this instead.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from litestar.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("host_stub.access")
SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "key"})


_NAMES = "|".join(sorted(SECRET_PARAMS))
_SECRET_IN_TEXT = re.compile(rf"(\b(?:{_NAMES})=)[^&\s\"']+", re.IGNORECASE)
_BEARER_IN_TEXT = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_text(text: str) -> str:
    return _BEARER_IN_TEXT.sub(r"\1[REDACTED]", _SECRET_IN_TEXT.sub(r"\1[REDACTED]", text))


class RedactSecretsFilter(logging.Filter):
    """Scrubs ``?token=...`` and bearer keys from every log line, whoever writes it.

    uvicorn logs WebSocket upgrades itself ("WebSocket /path?token=... [accepted]"), outside
    any middleware, so redaction has to happen at the logging handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


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
