"""CORS for browser pages on other origins: a ``before_send`` hook under the module's prefix.

Only origins the operator lists (``SCAIECHO_CORS_ORIGINS``; ``*`` allows any) get the headers;
credentials travel as a bearer header (or a stream token), never cookies, so no
``Allow-Credentials``. Preflights (OPTIONS) pass the guard without a key: Litestar's own
OPTIONS answer (204 with Allow) gets the CORS headers here.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from scaiecho_module import API_PREFIX

_METHODS = b"GET, POST, PUT, DELETE, OPTIONS"
_HEADERS = b"authorization, content-type, x-request-id, idempotency-key"


def cors_hook(origins: tuple[str, ...]) -> BeforeMessageSendHookHandler:
    allowed = {o.rstrip("/") for o in origins}

    async def add_cors_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
            return
        if not str(scope.get("path", "")).startswith(API_PREFIX):
            return
        request_headers = dict(scope.get("headers", ()))
        origin = request_headers.get(b"origin", b"").decode("latin-1")
        if not origin or ("*" not in allowed and origin not in allowed):
            return
        headers = list(message.get("headers", ()))
        headers += [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin"),
                    (b"access-control-expose-headers", b"x-request-id, retry-after, location")]  # fmt: skip
        if scope.get("method") == "OPTIONS" and b"access-control-request-method" in request_headers:
            headers += [
                (b"access-control-allow-methods", _METHODS),
                (b"access-control-allow-headers", _HEADERS),
                (b"access-control-max-age", b"600"),
            ]
        message["headers"] = headers

    return add_cors_headers
