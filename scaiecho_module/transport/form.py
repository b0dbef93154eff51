"""Multipart upload forms: strict field checks and the fields both file endpoints share.

``POST /transcribe`` and the OpenAI-compatible ``POST /audio/transcriptions`` read the same
kind of form, through one streaming reader: one ``file`` part and text fields, each at most
once, except the repeatable ``timestamp_granularities`` (the OpenAI SDK sends
``timestamp_granularities[]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from litestar import Request

from scaiecho_module.errors import UNSUPPORTED_MEDIA_TYPE, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.transcript import DecodeOptions
from scaiecho_module.transport.formats import ResponseFormat
from scaiecho_module.transport.upload_form import UploadForm, UploadLimits, read_upload_form

# Whisper reads at most 223 prompt tokens (faster-whisper keeps the last ones); a few
# characters a token, so this bound never cuts a prompt Whisper would have used whole.
PROMPT_MAX_CHARS = 1000
HOTWORDS_MAX_CHARS = 500
_GRANULARITIES = {"segment", "word"}
# The OpenAI SDK repeats ``timestamp_granularities[]``; either spelling may also come
# comma-separated. Every part, repeated or not, stays under the form's text cap.
GRANULARITY_FIELDS = frozenset({"timestamp_granularities", "timestamp_granularities[]"})
_FORMATS = ", ".join(f.value for f in ResponseFormat)


def invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


async def read_multipart(
    request: Request[Any, Any, Any], fields: frozenset[str], limits: UploadLimits
) -> UploadForm:
    """The request's multipart body through the streaming reader (``upload_form``): its part,
    text and time bounds hold for every file endpoint. The caller closes the form."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ScaiEchoError(
            UNSUPPORTED_MEDIA_TYPE, "send the audio as multipart/form-data with a 'file' field"
        )
    boundary = request.content_type[1].get("boundary")
    if not boundary:
        raise invalid("form", "multipart boundary missing in Content-Type")
    raw_length = request.headers.get("content-length", "")
    announced = int(raw_length) if raw_length.isdigit() else None
    return await read_upload_form(
        request.receive, boundary.encode("latin-1"), "file", fields | GRANULARITY_FIELDS, limits,
        announced, repeatable=GRANULARITY_FIELDS,
    )  # fmt: skip


def text_field(form: UploadForm, name: str) -> str | None:
    value = form.texts.get(name)
    return (value.strip() or None) if value is not None else None


def form_options(form: UploadForm, temperature: float | None = None) -> DecodeOptions:
    """Decode options from the form's ``prompt``, ``hotwords`` and granularity fields."""
    chosen = [g for name in sorted(GRANULARITY_FIELDS) for g in granularities(form.texts.get(name))]
    return options_from(lambda name: text_field(form, name), chosen, temperature)


def flag(raw: str | None, field: str) -> bool:
    """A form's boolean: ``true``/``false`` (also ``1``/``0``); absent is false."""
    if raw is None:
        return False
    value = raw.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise invalid(field, f"{field} must be true or false")


def response_format(raw: str | None, field: str = "response_format") -> ResponseFormat:
    if raw is None:
        return ResponseFormat.JSON
    try:
        return ResponseFormat(raw.lower())
    except ValueError:
        raise invalid(field, f"{field} must be one of: {_FORMATS}") from None


def bounded_hint(value: str | None, name: str, limit: int) -> str | None:
    """A vocabulary hint (``prompt``, ``hotwords``), already stripped: at most ``limit``
    characters, no control characters but line breaks and tabs. Files and live share it."""
    if value is None:
        return None
    if len(value) > limit:
        raise invalid(name, f"{name} is {len(value)} characters; at most {limit} are accepted")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise invalid(name, f"{name} must not contain control characters")
    return value


def granularities(raw: str | None) -> list[str]:
    """``timestamp_granularities`` sent comma-separated (repeated parts arrive joined)."""
    return [v.strip() for v in (raw or "").split(",") if v.strip()]


def options_from(
    text: Callable[[str], str | None], granularities: Sequence[str], temperature: float | None = None
) -> DecodeOptions:
    """Decode options from a form's text fields (``text`` gives one, stripped, or None)."""
    unknown = sorted(set(granularities) - _GRANULARITIES)
    if unknown:
        raise invalid(
            "timestamp_granularities",
            f"timestamp_granularities takes segment and/or word, not {unknown[0]!r}",
        )
    return DecodeOptions(
        word_timestamps="word" in granularities,
        prompt=bounded_hint(text("prompt"), "prompt", PROMPT_MAX_CHARS),
        hotwords=bounded_hint(text("hotwords"), "hotwords", HOTWORDS_MAX_CHARS),
        temperature=temperature,
    )


def temperature(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise invalid("temperature", "temperature must be a number from 0 to 1")
    return value


def language(raw: str | None) -> str | None:
    """A BCP-47 tag's primary language (``en-US`` -> ``en``); validated later by the service."""
    if raw is None:
        return None
    return raw.replace("_", "-").split("-", 1)[0].strip() or None
