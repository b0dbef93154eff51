"""Authentication and per-endpoint permission, shared by every transport.

Handlers declare ``opt={"permission": ...}``; the guard runs before the body is read, so an
unauthenticated caller cannot make the server spool an upload. The host's identity is handed
in by the plugin (``Authenticator``), never looked up in the app's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from scaiecho_module.errors import FORBIDDEN, STREAM_TOKEN_NOT_ALLOWED, UNAUTHORIZED, ScaiEchoError
from scaiecho_module.host_contract import Identity, Principal
from scaiecho_module.transport.stream_tokens import StreamTokens, is_stream_token

_STATE_KEY = "scaiecho_principal"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    # Browsers cannot set headers on a WebSocket upgrade; the query token is for that case only,
    # so REST callers never learn to put keys in URLs. A short-lived stream token may come
    # this way on REST too (the WebRTC session endpoints take nothing else from a page).
    token = connection.query_params.get("token") or None
    if connection.scope["type"] == ScopeType.WEBSOCKET or (token and is_stream_token(token)):
        return token
    return None


def _socket_origin_allowed(connection: ASGIConnection[Any, Any, Any, Any], allowed: frozenset[str]) -> bool:
    """A browser's WebSocket from another site's page: only from listed origins.

    CORS does not cover WebSocket upgrades, and a page elsewhere could open a socket with a
    token it obtained. Clients other than browsers send no ``Origin`` and pass; the module's
    own page (same host as the request) passes; ``*`` allows any, as for CORS.
    """
    origin = connection.headers.get("origin")
    if not origin:
        return True
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    host = connection.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


class Authenticator:
    """Bearer token -> principal through the host's identity, and the router's guard.

    Built once by the plugin around ``host.identity`` and handed to WebSocket handlers by
    dependency injection (they authenticate after accepting, see ``guard``); a concrete
    class, since Litestar checks an injected value against its annotation.
    """

    def __init__(
        self, identity: Identity, tokens: StreamTokens | None = None, origins: tuple[str, ...] = ()
    ) -> None:
        self._identity = identity
        self.tokens = tokens or StreamTokens("", 300.0, 3600.0)
        self._origins = frozenset(o.rstrip("/") for o in origins)

    async def principal(
        self,
        connection: ASGIConnection[Any, Any, Any, Any],
        permission: str | None,
        stream_token: bool = False,
    ) -> Principal:
        """The caller; ``stream_token``: the endpoint streams, so a stream token is accepted."""
        if connection.scope["type"] == ScopeType.WEBSOCKET and not _socket_origin_allowed(
            connection, self._origins
        ):
            raise ScaiEchoError(
                FORBIDDEN,
                "WebSockets from this page's origin are refused; an operator lists allowed origins "
                "in SCAIECHO_CORS_ORIGINS",
                {"origin": connection.headers.get("origin", "")[:200]},
            )
        token = bearer_token(connection)
        if token is None:
            scheme = connection.headers.get("authorization", "").strip().partition(" ")[0]
            if scheme and scheme.lower() != "bearer":
                # "Token sgk_...", Basic, or a bare key: say what to send instead of only "missing".
                # The scheme is not echoed: with no space in the header it would be the key itself.
                raise ScaiEchoError(UNAUTHORIZED, "use the Bearer scheme: 'Authorization: Bearer sgk_...'")
            raise ScaiEchoError(UNAUTHORIZED, "missing bearer token")
        if is_stream_token(token):
            if not stream_token:
                raise ScaiEchoError(
                    STREAM_TOKEN_NOT_ALLOWED, "stream tokens are accepted only by the streaming endpoints"
                )
            principal: Principal | None = self.tokens.verify(token)
        else:
            principal = await self._identity.authenticate(token)
        if principal is None:
            raise ScaiEchoError(UNAUTHORIZED, "invalid or revoked token")
        if permission and not principal.has(permission):
            raise ScaiEchoError(
                FORBIDDEN, f"this endpoint needs the {permission} permission", {"permission": permission}
            )
        return principal


def guard(auth: Authenticator) -> Guard:
    """The router's guard: every REST handler's caller, checked against its ``opt`` permission.

    A function, not a bound method: Litestar deep-copies a router's handlers and guards when it
    registers them, and a bound method would copy the host's identity with it.
    """

    async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if connection.scope["type"] == ScopeType.WEBSOCKET:
            # A refused upgrade shows a browser no status: WebSocket handlers accept first and
            # close with 4401/4403, so they authenticate themselves (``principal``).
            return
        if handler.opt.get("public") or connection.scope.get("method") == "OPTIONS":
            # The live page itself, and CORS preflights (a browser sends them without credentials).
            return
        connection.state[_STATE_KEY] = await auth.principal(
            connection, handler.opt.get("permission"), bool(handler.opt.get("stream_token"))
        )

    return authorize


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = request.state[_STATE_KEY]
    return principal


# For handlers that get only the ASGI scope (the MCP mount) and check a permission per call.
def principal_in(scope: Mapping[str, Any]) -> Principal:
    """The principal the guard stored for this request."""
    principal: Principal = scope["state"][_STATE_KEY]
    return principal


def require_permission(principal: Principal, permission: str, what: str) -> None:
    if not principal.has(permission):
        message = f"{what} needs the {permission} permission"
        raise ScaiEchoError(FORBIDDEN, message, {"permission": permission})
