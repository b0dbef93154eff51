"""X-Request-Id on every response under the module's prefix, and in its error bodies.

App-level hooks rather than a middleware: Litestar runs middleware only for matched routes,
but 404 and 405 under the prefix are answered by the host's router, and they carry the id
too. ``after_exception`` runs before any exception handler (so the host's error body can
quote the id), ``before_send`` before every response start (so the header is always set).
A caller's own id is kept when it is sane (a proxy's or client's trace id), so logs on both
sides line up; anything else is replaced by a fresh one rather than echoed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import Message, Scope

from scaiecho_module import API_PREFIX

HEADER = "x-request-id"
# The key in the ASGI scope's state; a host's error handler may read it from there.
STATE_KEY = "request_id"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")


def _ours(scope: Scope) -> bool:
    return scope["type"] == ScopeType.HTTP and str(scope.get("path", "")).startswith(API_PREFIX)


def ensure_request_id(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if existing := state.get(STATE_KEY):
        return str(existing)
    request_id = uuid.uuid4().hex
    for name, value in scope.get("headers", ()):
        if name == HEADER.encode():
            text = value.decode("latin-1").strip()
            if _SANE.fullmatch(text):
                request_id = text
            break
    state[STATE_KEY] = request_id
    return request_id


async def assign_on_exception(_: Exception, scope: Scope) -> None:
    if _ours(scope):
        ensure_request_id(scope)


async def add_request_id_header(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or not _ours(scope):
        return
    value = ensure_request_id(scope).encode()
    headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER.encode()]
    message["headers"] = [*headers, (HEADER.encode(), value)]


def request_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return ensure_request_id(connection.scope) if _ours(connection.scope) else None
