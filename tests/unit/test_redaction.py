"""No API key reaches a log line, however the client spelled it (host_stub.access_log)."""

from __future__ import annotations

import logging

import pytest

from host_stub.access_log import RedactSecretsFilter, redact_query, redact_text

KEY = "sgk_usR-HtkqOUOVDCjzWv0JdQy4yqvGQPp2HkFHYRxB2sU"
ENCODED_KEY = "".join(f"%{ord(c):02X}" for c in KEY)

SPELLINGS = [
    f"/stream?token={KEY}",
    f"/stream?tok%65n={KEY}",
    f"/stream?%74oken={KEY}",
    f'/stream?token="{KEY}"',
    f"/stream?token='{KEY}'",
    f"/stream?x=token%3D{KEY}",
    f"/stream?anything={KEY}",
    f"/stream?token={ENCODED_KEY}",
    f"/stream?token=%2573gk_{KEY[4:]}",  # double-encoded
    f"Authorization: Bearer {KEY}",
    f"no name at all {KEY} in free text",
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_key_is_redacted_however_it_is_spelled(text: str) -> None:
    redacted = redact_text(text)
    assert KEY not in redacted
    assert KEY[8:] not in redacted
    assert "[REDACTED]" in redacted


@pytest.mark.parametrize(
    "raw", [f"token={KEY}", f"tok%65n={KEY}", f"%74oken={KEY}", f'token="{KEY}"', f"x=token%3D{KEY}"]
)
def test_the_access_log_query_never_holds_a_key(raw: str) -> None:
    query = redact_query(raw.encode())
    assert KEY not in query
    assert KEY[8:] not in query


def test_ordinary_query_values_are_kept() -> None:
    assert redact_query(b"language_hint=en&cursor=abc") == "language_hint=en&cursor=abc"


def test_decoded_control_characters_cannot_forge_a_log_line() -> None:
    assert "\n" not in redact_text("/x?a=1%0A2026-12-01 INFO forged line")


def _record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def test_uvicorn_websocket_upgrade_lines_are_dropped() -> None:
    line = f'127.0.0.1:5000 - "WebSocket /v1/modules/scaiecho/stream/transcribe?tok%65n={KEY}" [accepted]'
    assert RedactSecretsFilter().filter(_record("uvicorn.error", line)) is False


def test_other_lines_pass_with_their_keys_redacted() -> None:
    record = _record("host_stub", f"failed for {KEY}")
    assert RedactSecretsFilter().filter(record) is True
    assert KEY not in record.getMessage()


def test_lines_without_a_credential_keep_their_exact_text() -> None:
    line = "job 3 at 50% done, started 2026-12-01T10:00:00+00:00, file a%20b.wav"
    assert redact_text(line) == line
