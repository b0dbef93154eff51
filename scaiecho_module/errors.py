"""Every error a client can see: one stable code, one HTTP status, one WebSocket close code.

The same code means the same thing on every transport. The table is documented in
docs/api.md; tests assert codes, never messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorKind:
    code: str
    http_status: int
    close_code: int


UNAUTHORIZED = ErrorKind("UNAUTHORIZED", 401, 4401)
FORBIDDEN = ErrorKind("FORBIDDEN", 403, 4403)
NOT_FOUND = ErrorKind("NOT_FOUND", 404, 4404)
BUDGET_EXHAUSTED = ErrorKind("BUDGET_EXHAUSTED", 402, 4402)
VALIDATION_ERROR = ErrorKind("VALIDATION_ERROR", 400, 4400)
JOB_FINISHED = ErrorKind("JOB_FINISHED", 409, 4409)
JOB_NOT_COMPLETED = ErrorKind("JOB_NOT_COMPLETED", 409, 4409)
METHOD_NOT_ALLOWED = ErrorKind("METHOD_NOT_ALLOWED", 405, 4400)
PAYLOAD_TOO_LARGE = ErrorKind("PAYLOAD_TOO_LARGE", 413, 4400)
AUDIO_TOO_LONG = ErrorKind("AUDIO_TOO_LONG", 413, 4400)
UNSUPPORTED_MEDIA_TYPE = ErrorKind("UNSUPPORTED_MEDIA_TYPE", 415, 4400)
AUDIO_EMPTY = ErrorKind("AUDIO_EMPTY", 422, 4400)
AUDIO_UNDECODABLE = ErrorKind("AUDIO_UNDECODABLE", 422, 4400)
# Live-session protocol violations (WebSocket close 4400, as in the ScaiVoice table).
MALFORMED_FRAME = ErrorKind("MALFORMED_FRAME", 400, 4400)
UNKNOWN_FRAME_TYPE = ErrorKind("UNKNOWN_FRAME_TYPE", 400, 4400)
NOT_OPEN = ErrorKind("NOT_OPEN", 400, 4400)
ALREADY_OPEN = ErrorKind("ALREADY_OPEN", 400, 4400)
# Admission control for live sessions: per tenant and per process (4000 + the HTTP status).
TOO_MANY_SESSIONS = ErrorKind("TOO_MANY_SESSIONS", 429, 4429)
# Speaker enrollment: a preflight or consent check refused the recordings (nothing stored).
PREFLIGHT_TOO_LITTLE_SPEECH = ErrorKind("PREFLIGHT_TOO_LITTLE_SPEECH", 422, 4400)
PREFLIGHT_TOO_QUIET = ErrorKind("PREFLIGHT_TOO_QUIET", 422, 4400)
PREFLIGHT_CLIPPING = ErrorKind("PREFLIGHT_CLIPPING", 422, 4400)
PREFLIGHT_TOO_NOISY = ErrorKind("PREFLIGHT_TOO_NOISY", 422, 4400)
PREFLIGHT_SEVERAL_VOICES = ErrorKind("PREFLIGHT_SEVERAL_VOICES", 422, 4400)
CONSENT_TEXT_MISMATCH = ErrorKind("CONSENT_TEXT_MISMATCH", 422, 4400)
CONSENT_VOICE_MISMATCH = ErrorKind("CONSENT_VOICE_MISMATCH", 422, 4400)
SPEAKER_NAME_TAKEN = ErrorKind("SPEAKER_NAME_TAKEN", 409, 4409)
# WebRTC: the offer's SDP could not be used (not SDP, no audio, no codec we take).
INVALID_SDP = ErrorKind("INVALID_SDP", 400, 4400)
# A short-lived stream token (sst_...) used on an endpoint outside streaming, or expired.
STREAM_TOKEN_NOT_ALLOWED = ErrorKind("STREAM_TOKEN_NOT_ALLOWED", 403, 4403)
TOKEN_EXPIRED = ErrorKind("TOKEN_EXPIRED", 401, 4401)
BACKEND_UNAVAILABLE = ErrorKind("BACKEND_UNAVAILABLE", 503, 4502)
# Admission control: the tenant has as much inline work in flight as it may (retry later), or
# the whole process has (retry later, maybe elsewhere). Both carry Retry-After.
TOO_MANY_REQUESTS = ErrorKind("TOO_MANY_REQUESTS", 429, 4429)
SERVER_BUSY = ErrorKind("SERVER_BUSY", 503, 4503)
# The request body stalled or trickled in below the minimum rate.
REQUEST_TIMEOUT = ErrorKind("REQUEST_TIMEOUT", 408, 4408)
# The client left before its request finished (nginx's 499): counted, never a 500.
CLIENT_DISCONNECTED = ErrorKind("CLIENT_DISCONNECTED", 499, 4400)
INTERNAL_ERROR = ErrorKind("INTERNAL_ERROR", 500, 4500)


class ScaiEchoError(Exception):
    """An error with a stable code, raised by services and mapped by every transport."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = dict(details or {})
        # Seconds a client should wait before retrying (the Retry-After header on REST).
        self.retry_after = retry_after
        if retry_after is not None:
            self.details["retry_after_seconds"] = retry_after

    def body(self) -> dict[str, Any]:
        """The error object itself: REST wraps it as ``{"error": ...}``, a WebSocket frame adds a type."""
        body: dict[str, Any] = {"code": self.kind.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body

    def envelope(self) -> dict[str, Any]:
        return {"error": self.body()}


class ConfigurationError(RuntimeError):
    """The operator's configuration is invalid; raised at startup, never to a client."""
