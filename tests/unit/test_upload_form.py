"""The upload form parser enforces its limits while bytes arrive, and leaves no file behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.transport.upload_form import UploadLimits, read_upload_form

FIELDS = frozenset({"file", "language_hint"})
LIMITS = UploadLimits(body_bytes=1 << 20, text_bytes=64)


def _part(name: str, content: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"


def _receive(chunks: list[bytes], then_disconnect: bool = False) -> Any:
    messages: Iterator[dict[str, Any]] = iter(
        [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1 or then_disconnect}
            for i, c in enumerate(chunks)
        ]
        + ([{"type": "http.disconnect"}] if then_disconnect else [])
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    return receive


async def _read(chunks: list[bytes], disconnect: bool = False) -> Any:
    return await read_upload_form(_receive(chunks, disconnect), b"b", "file", FIELDS, LIMITS, None)


async def test_a_file_and_a_text_field_are_read() -> None:
    form = await _read(
        [_part("file", b"RIFF" * 100, "a.wav") + _part("language_hint", b" en ") + b"--b--\r\n"]
    )
    assert (form.filename, form.size, form.texts) == ("a.wav", 400, {"language_hint": " en "})
    assert (form.file is not None and form.file.read(4) == b"RIFF") or form.file.seek(0) == 0
    form.close()


@pytest.mark.parametrize(
    ("chunks", "code"),
    [
        ([_part("language_hint", b"e" * 65)], "PAYLOAD_TOO_LARGE"),
        ([_part("audio", b"RIFF", "a.wav")], "VALIDATION_ERROR"),
        ([_part("language_hint", b"\xff\xfe") + b"--b--\r\n"], "VALIDATION_ERROR"),
        ([_part("file", b"RIFF", "a.wav")[:30]], "VALIDATION_ERROR"),  # the body ends mid-part
    ],
    ids=["text-over-cap", "unknown-field", "not-utf8", "truncated"],
)
async def test_bad_forms_get_a_stable_code(chunks: list[bytes], code: str) -> None:
    with pytest.raises(ScaiEchoError) as raised:
        await _read(chunks)
    assert raised.value.kind.code == code


async def test_a_text_field_over_its_cap_fails_before_the_rest_arrives() -> None:
    sent = [
        _part("file", b"RIFF", "a.wav"),
        b'--b\r\nContent-Disposition: form-data; name="language_hint"\r\n\r\n',
    ]
    sent += [b"e" * 40] * 1000  # 40 KB of hint: refused at the second chunk
    with pytest.raises(ScaiEchoError) as raised:
        await _read(sent)
    assert raised.value.details == {"field": "language_hint", "limit_bytes": 64}


async def test_a_client_that_leaves_mid_upload_is_client_disconnected() -> None:
    with pytest.raises(ScaiEchoError) as raised:
        await _read([_part("file", b"RIFF" * 10, "a.wav")[:-2]], disconnect=True)
    assert (raised.value.kind.code, raised.value.kind.http_status) == ("CLIENT_DISCONNECTED", 499)


async def test_a_repeatable_field_joins_its_values_and_others_stay_single() -> None:
    fields = FIELDS | {"timestamp_granularities[]"}
    repeatable = frozenset({"timestamp_granularities[]"})
    body = (
        _part("timestamp_granularities[]", b"segment")
        + _part("timestamp_granularities[]", b"word")
        + _part("file", b"RIFF", "a.wav")
        + b"--b--\r\n"
    )
    form = await read_upload_form(_receive([body]), b"b", "file", fields, LIMITS, None, repeatable)
    assert form.texts == {"timestamp_granularities[]": "segment,word"}
    form.close()
    twice = _part("language_hint", b"en") + _part("language_hint", b"de") + b"--b--\r\n"
    with pytest.raises(ScaiEchoError) as raised:
        await read_upload_form(_receive([twice]), b"b", "file", fields, LIMITS, None, repeatable)
    assert raised.value.details == {"field": "language_hint"}


async def test_each_repeated_part_is_held_to_the_text_cap() -> None:
    fields = FIELDS | {"timestamp_granularities"}
    body = _part("timestamp_granularities", b"word") + _part("timestamp_granularities", b"w" * 65)
    with pytest.raises(ScaiEchoError) as raised:
        await read_upload_form(
            _receive([body]), b"b", "file", fields, LIMITS, None, frozenset({"timestamp_granularities"})
        )
    assert raised.value.kind.code == "PAYLOAD_TOO_LARGE"
