"""Short-lived stream tokens: what a browser page holds instead of the long-lived API key.

``sst_<payload>.<mac>``: the payload (tenant, user, permissions, expiry) is base64url JSON,
the MAC an HMAC-SHA256 under the process's secret (``SCAIECHO_STREAM_TOKEN_SECRET``; random
per process when unset, so tokens then work only on the process that minted them). The
permissions are a subset of the minting key's, fixed at minting. Accepted only by the
streaming endpoints (the WebSocket, the WebRTC sessions and their control socket); anywhere
else ``STREAM_TOKEN_NOT_ALLOWED``. A revoked key's tokens live out their minutes: they are
kept short for that reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from scaiecho_module.errors import TOKEN_EXPIRED, UNAUTHORIZED, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal

PREFIX = "sst_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StreamTokens:
    def __init__(self, secret: str, default_seconds: float, max_seconds: float) -> None:
        self._key = secret.encode() if secret else secrets.token_bytes(32)
        self.default_seconds = default_seconds
        self.max_seconds = max_seconds

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:24])

    def mint(
        self, principal: Principal, permissions: frozenset[str] | None, seconds: float | None
    ) -> tuple[str, float, frozenset[str]]:
        """A token for ``principal`` with ``permissions`` (default: all it holds); its expiry."""
        ttl = self.default_seconds if seconds is None else seconds
        if not 0 < ttl <= self.max_seconds:
            raise ScaiEchoError(
                VALIDATION_ERROR, f"expires_in_seconds must be between 1 and {self.max_seconds:g}",
                {"field": "expires_in_seconds"},
            )  # fmt: skip
        granted = principal.permissions if permissions is None else permissions
        missing = sorted(granted - principal.permissions)
        if missing:
            raise ScaiEchoError(
                VALIDATION_ERROR, "a stream token can carry only permissions the key holds",
                {"field": "permissions", "permission": missing[0]},
            )  # fmt: skip
        expires = time.time() + ttl
        body = {"t": principal.tenant_id, "u": principal.user_id, "p": sorted(granted), "e": expires}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{PREFIX}{payload}.{self._mac(payload)}", expires, granted

    def verify(self, token: str) -> Principal:
        payload, _, mac = token.removeprefix(PREFIX).partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(payload)):
            raise ScaiEchoError(UNAUTHORIZED, "invalid stream token")
        try:
            body = json.loads(_unb64(payload))
            tenant, user, permissions, expires = body["t"], body["u"], body["p"], float(body["e"])
        except (ValueError, KeyError, TypeError):
            raise ScaiEchoError(UNAUTHORIZED, "invalid stream token") from None
        if expires <= time.time():
            raise ScaiEchoError(TOKEN_EXPIRED, "the stream token has expired; mint a new one")
        return Principal(str(tenant), str(user), frozenset(str(p) for p in permissions))


def is_stream_token(token: str) -> bool:
    return token.startswith(PREFIX)
