"""The webhook signature: ``ScaiEcho-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 with the tenant's secret (its UTF-8 bytes, ``whsec_`` prefix included) over
``<t>.<raw body>``. Receivers recompute it and refuse a ``t`` too far from their clock."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "ScaiEcho-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
