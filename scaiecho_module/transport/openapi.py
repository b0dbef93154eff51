"""What the OpenAPI document says about the module beyond what Litestar infers.

The upload handlers parse their multipart form themselves (strictly, in chunks), so Litestar
sees no request body: their fields are declared here. Errors are the module's envelope, not
Litestar's default error schema, and every route needs the bearer key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)

from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.transcribe.schemas import TranscriptionView

BEARER = "BearerAuth"
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="ScaiGrid API key (sgk_...)",
            description="`Authorization: Bearer sgk_...`; a WebSocket may pass `?token=` instead.",
        )
    }
)


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    details: dict[str, Any] | None = None
    request_id: str | None = None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


class TranscriptionEnvelope(msgspec.Struct):
    data: TranscriptionView


class JobEnvelope(msgspec.Struct):
    data: TranscriptionJobView


class OpenAIText(msgspec.Struct):
    text: str


class VerboseSegment(msgspec.Struct, omit_defaults=True):
    id: int
    start: float
    end: float
    text: str
    speaker: str | None = None


class VerboseWord(msgspec.Struct):
    word: str
    start: float
    end: float
    probability: float


class VerboseTranscription(msgspec.Struct, omit_defaults=True):
    task: str
    language: str
    duration: float
    text: str
    segments: list[VerboseSegment]
    words: list[VerboseWord] | None = None


_ERRORS = {
    400: "VALIDATION_ERROR: a malformed request (`details.field` names the field); INVALID_SDP on WebRTC",
    401: "UNAUTHORIZED: no usable bearer key (with `WWW-Authenticate: Bearer`)",
    402: "BUDGET_EXHAUSTED: the tenant's audio budget cannot cover this",
    403: "FORBIDDEN: the key lacks the endpoint's permission",
    404: "NOT_FOUND",
    409: "JOB_FINISHED or JOB_NOT_COMPLETED",
    413: "PAYLOAD_TOO_LARGE or AUDIO_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "AUDIO_EMPTY or AUDIO_UNDECODABLE",
    429: "TOO_MANY_SESSIONS: a live-session cap was reached (`details.scope`, `details.limit`)",
    503: "BACKEND_UNAVAILABLE: no backend the policy allows is up",
}


_OTHER_FORMATS = (
    "With response_format (or ?format=) text, srt or vtt the body is text/plain, "
    "application/x-subrip or text/vtt; verbose_json is OpenAI's shape (VerboseTranscription)."
)


def success(container: Any, description: str, formats: bool = True) -> ResponseSpec:
    text = f"{description}. {_OTHER_FORMATS}" if formats else description
    return ResponseSpec(container, description=text, generate_examples=False)


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(ErrorEnvelope, description=_ERRORS[status], generate_examples=False)
        for status in statuses
    }


def _text(description: str, max_length: int | None = None, enum: list[str] | None = None) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description, max_length=max_length, enum=enum)


_FORMATS = ["json", "text", "srt", "vtt", "verbose_json"]
_GRANULARITIES = Schema(
    type=OpenAPIType.ARRAY,
    items=Schema(type=OpenAPIType.STRING, enum=["segment", "word"]),
    description="`word` adds word times (start, end, probability) to every segment.",
)
_FILE = Schema(
    type=OpenAPIType.STRING,
    format=OpenAPIFormat.BINARY,
    description="The audio (wav, mp3, flac, ogg, m4a, webm).",
)
_PROMPT = _text("Whisper's initial prompt: earlier context, the spelling of names.", 1000)
_HOTWORDS = _text("Words or phrases Whisper should favour.", 500)

TRANSCRIBE_FIELDS: dict[str, Schema] = {
    "file": _FILE,
    "language_hint": _text("ISO 639-1 code or BCP-47 tag (`en`, `en-US`)."),
    "backend_preference": _text("Backend selection.", enum=["any", "prefer_self_hosted", "prefer_relay"]),
    "response_format": _text("Encoding of the inline answer (a queued job answers 202 JSON).", enum=_FORMATS),
    "timestamp_granularities": _GRANULARITIES,
    "prompt": _PROMPT,
    "hotwords": _HOTWORDS,
    "diarize": _text(
        "`true`: speaker labels on the segments (needs `scaiecho:diarize`; Backend A with a speaker node).",
        enum=["true", "false"],
    ),
    "webhook_url": _text(
        "http(s) URL that gets one signed POST when the job completes, fails or is cancelled; "
        "with it the file is always queued as a job (202).",
        2048,
    ),
    "webhook_auth": _text("Sent verbatim as the webhook's `Authorization` header; never shown back.", 1024),
}
OPENAI_FIELDS: dict[str, Schema] = {
    "file": _FILE,
    "model": _text("Any model name (`whisper-1`); the deployment's model serves it.", 100),
    "language": _text("ISO 639-1 code or BCP-47 tag."),
    "prompt": _PROMPT,
    "response_format": _text('`json` is `{"text": ...}`.', enum=_FORMATS),
    "temperature": Schema(type=OpenAPIType.NUMBER, minimum=0, maximum=1),
    "timestamp_granularities[]": _GRANULARITIES,
    "hotwords": _HOTWORDS,
}


def multipart(fields: Mapping[str, Schema], required: list[str]) -> type[Operation]:
    """An Operation class whose request body is the handler's multipart form."""
    body = RequestBody(
        required=True,
        content={
            "multipart/form-data": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.OBJECT, properties=dict(fields), required=required)
            )
        },
    )

    class MultipartOperation(Operation):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["request_body"] = body
            super().__init__(*args, **kwargs)

    return MultipartOperation


__all__ = [
    "COMPONENTS",
    "OPENAI_FIELDS",
    "SECURITY",
    "TRANSCRIBE_FIELDS",
    "JobEnvelope",
    "OpenAIText",
    "TranscriptionEnvelope",
    "VerboseTranscription",
    "errors",
    "multipart",
]
