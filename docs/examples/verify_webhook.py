"""Verify a ScaiEcho webhook before trusting it (docs/api.md, "Webhooks").

``ScaiEcho-Signature: t=<unix seconds>,v1=<hex>``: the hex is HMAC-SHA256, keyed with the
tenant's secret from ``GET /webhook-secret`` (its UTF-8 bytes, ``whsec_`` prefix included),
over ``<t>.`` followed by the raw request body, exactly as received.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300  # refuse older (or future) timestamps: a captured request replayed


def verify(secret: str, signature_header: str, body: bytes, now: float | None = None) -> bool:
    fields = dict(part.split("=", 1) for part in signature_header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


if __name__ == "__main__":
    # A receiver reads the header and the raw body, then: verify(secret, header, body).
    import sys

    secret, header, path = sys.argv[1:4]
    with open(path, "rb") as handle:
        print("valid" if verify(secret, header, handle.read()) else "INVALID")
