"""Multipart upload forms: strict field checks and the fields both file endpoints share.

``POST /transcribe`` and the OpenAI-compatible ``POST /audio/transcriptions`` read the same
kind of form: one ``file`` part and text fields, each at most once, except the repeatable
``timestamp_granularities`` (the OpenAI SDK sends ``timestamp_granularities[]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from litestar import Request
from litestar.datastructures import UploadFile

from scaiecho_module.errors import UNSUPPORTED_MEDIA_TYPE, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.transcript import DecodeOptions
from scaiecho_module.transport.formats import ResponseFormat

# Whisper reads at most 223 prompt tokens (faster-whisper keeps the last ones); a few
# characters a token, so this bound never cuts a prompt Whisper would have used whole.
PROMPT_MAX_CHARS = 1000
HOTWORDS_MAX_CHARS = 500
_GRANULARITIES = {"segment", "word"}
_REPEATABLE = {"timestamp_granularities", "timestamp_granularities[]"}
_FORMATS = ", ".join(f.value for f in ResponseFormat)


def invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


@dataclass(slots=True)
class UploadForm:
    """A parsed form: single-valued text fields, the repeatable ones, and the upload."""

    fields: dict[str, Any]
    granularities: list[str]
    upload: UploadFile

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(name, f"'{name}' must be a text field")
        return value.strip() or None

    @property
    def file(self) -> IO[bytes]:
        return self.upload.file

    @property
    def size(self) -> int:
        audio_file = self.upload.file
        audio_file.seek(0, 2)
        size = audio_file.tell()
        audio_file.seek(0)
        return size


async def read_form(request: Request[Any, Any, Any], allowed: set[str]) -> tuple[UploadForm, list[Any]]:
    """The form, checked against ``allowed``; also every part value, for closing the uploads."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ScaiEchoError(
            UNSUPPORTED_MEDIA_TYPE, "send the audio as multipart/form-data with a 'file' field"
        )
    try:
        parts = list((await request.form()).multi_items())
    except (UnicodeDecodeError, LookupError):
        # Litestar decodes text parts with the part's declared charset (UTF-8 by default):
        # undecodable bytes or an unknown charset are the client's error, not ours.
        raise invalid("form", "a text field is not valid text in its declared charset") from None
    values = [value for _, value in parts]
    try:
        return _checked(parts, allowed), values
    except BaseException:
        await close_uploads(values)
        raise


def _checked(parts: Sequence[tuple[str, Any]], allowed: set[str]) -> UploadForm:
    names = [name for name, _ in parts]
    repeated = sorted({n for n in names if names.count(n) > 1 and n not in _REPEATABLE})
    if repeated:
        raise invalid(repeated[0], f"field '{repeated[0]}' was sent more than once")
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise invalid(unknown[0], f"unknown field(s): {', '.join(unknown)}; expected {sorted(allowed)}")
    granularities: list[str] = []
    for name, value in parts:
        if name in _REPEATABLE:
            if not isinstance(value, str):
                raise invalid(name, f"'{name}' must be a text field")
            granularities += [v.strip() for v in value.split(",") if v.strip()]
    fields = {name: value for name, value in parts if name not in _REPEATABLE}
    upload = fields.pop("file", None)
    if not isinstance(upload, UploadFile):
        raise invalid("file", "a 'file' part with the audio is required")
    return UploadForm(fields, granularities, upload)


async def close_uploads(values: list[Any]) -> None:
    for value in values:
        if isinstance(value, UploadFile):
            await value.close()


def response_format(raw: str | None, field: str = "response_format") -> ResponseFormat:
    if raw is None:
        return ResponseFormat.JSON
    try:
        return ResponseFormat(raw.lower())
    except ValueError:
        raise invalid(field, f"{field} must be one of: {_FORMATS}") from None


def _bounded(text: Callable[[str], str | None], name: str, limit: int) -> str | None:
    value = text(name)
    if value is None:
        return None
    if len(value) > limit:
        raise invalid(name, f"{name} is {len(value)} characters; at most {limit} are accepted")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise invalid(name, f"{name} must not contain control characters")
    return value


def decode_options(form: UploadForm, temperature: float | None = None) -> DecodeOptions:
    return options_from(form.text, form.granularities, temperature)


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
        prompt=_bounded(text, "prompt", PROMPT_MAX_CHARS),
        hotwords=_bounded(text, "hotwords", HOTWORDS_MAX_CHARS),
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
