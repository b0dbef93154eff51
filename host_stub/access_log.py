"""Access log as ASGI middleware, with credentials redacted from query strings.

uvicorn's own access log prints raw query strings (``?token=sgk_...``); the stub turns it off
and logs through this instead.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from litestar.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("host_stub.access")
SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "key"})


_NAMES = "|".join(sorted(SECRET_PARAMS))
_SECRET_IN_TEXT = re.compile(rf"(\b(?:{_NAMES})=)[^&\s\"']+", re.IGNORECASE)
_BEARER_IN_TEXT = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# Every ScaiGrid key starts with sgk_, every ScaiEcho stream token with sst_ (its payload and MAC
# joined by a dot): redact one wherever it stands, whatever names it.
_KEY_IN_TEXT = re.compile(r"(sgk_|sst_)[A-Za-z0-9_.-]*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _redact_plain(text: str) -> str:
    text = _SECRET_IN_TEXT.sub(r"\1[REDACTED]", text)
    return _KEY_IN_TEXT.sub(r"\1[REDACTED]", _BEARER_IN_TEXT.sub(r"\1[REDACTED]", text))


def redact_text(text: str) -> str:
    """``text`` with every credential replaced, however it was spelled.

    A percent-encoded name or key (``?tok%65n=``, ``%73gk_...``) still authenticates once
    decoded, so text holding ``%`` is also decoded (repeatedly, for double encoding) and
    scrubbed; only when the decoded form held a credential is that form logged instead, so
    every other line keeps its exact text.
    """
    plain = _redact_plain(text)
    decoded = text
    for _ in range(3):
        if "%" not in decoded or (step := unquote(decoded)) == decoded:
            break
        # Decoded control characters (%0A) must not forge log lines of their own.
        decoded = _CONTROL.sub("?", step)
    scrubbed = _redact_plain(decoded)
    return scrubbed if scrubbed != decoded else plain


class RedactSecretsFilter(logging.Filter):
    """Scrubs credentials from every log line, whoever writes it, and drops uvicorn's own
    WebSocket upgrade lines.

    uvicorn logs WebSocket upgrades itself ("WebSocket /path?token=... [accepted]") with the
    raw URL, outside any middleware; the access-log middleware below logs every upgrade
    already, redacted, so those lines carry nothing but risk.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name.startswith("uvicorn") and '"WebSocket ' in message:
            return False
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_query(raw: bytes) -> str:
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    redacted = [(k, "[REDACTED]" if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
    # Values are decoded here, so a key under any other name (or quoted) is caught too.
    return redact_text(urlencode(redacted, quote_via=quote, safe="[]"))


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
