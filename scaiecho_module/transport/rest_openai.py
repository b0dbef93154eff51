"""REST: POST /audio/transcriptions, OpenAI's transcription API under the module's prefix.

So the official SDKs work with ``base_url=<host>/v1/modules/scaiecho``. It is the inline path
of ``POST /transcribe`` (same service: auth, policy, budget, metering and audit), with
OpenAI's field names and answer shapes. OpenAI answers every request inline, so a file over
the inline threshold is refused (413) rather than queued: the SDKs have no job to poll.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.host_contract import Principal
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.transport.form import (
    form_options,
    invalid,
    language,
    read_multipart,
    response_format,
    temperature,
    text_field,
)
from scaiecho_module.transport.formats import ResponseFormat
from scaiecho_module.transport.openapi import (
    OPENAI_FIELDS,
    OpenAIText,
    VerboseTranscription,
    errors,
    multipart,
    success,
)
from scaiecho_module.transport.upload_form import UploadLimits
from scaiecho_module.transport.views import transcription_response

_FIELDS = frozenset({"file", "model", "language", "prompt", "response_format", "temperature", "hotwords"})
_MODEL_MAX_CHARS = 100


class OpenAITranscriptionController(Controller):
    path = "/audio/transcriptions"

    @post(
        opt={"permission": PERM_TRANSCRIBE},
        status_code=HTTP_200_OK,
        summary="OpenAI-compatible transcription (inline only)",
        operation_class=multipart(OPENAI_FIELDS, ["file", "model"]),
        responses={
            200: success(OpenAIText | VerboseTranscription, "The transcript ({text} for json)"),
            **errors(400, 401, 402, 403, 413, 415, 422, 503),
        },
    )
    async def create_transcription(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        transcriptions: NamedDependency[TranscribeService],
        upload_limits: NamedDependency[UploadLimits],
    ) -> Response[Any]:
        form = await read_multipart(request, _FIELDS, upload_limits)
        try:
            if form.file is None:
                raise invalid("file", "a 'file' part with the audio is required")
            # OpenAI requires a model name; the deployment's model serves whatever it says.
            model = text_field(form, "model")
            if model is None or len(model) > _MODEL_MAX_CHARS:
                raise invalid("model", f"model is required (at most {_MODEL_MAX_CHARS} characters)")
            language_hint = language(text_field(form, "language"))
            fmt = response_format(text_field(form, "response_format"))
            options = form_options(form, temperature(text_field(form, "temperature")))
            form.file.seek(0)
            done = await transcriptions.transcribe_inline(
                principal, form.file, form.size, language_hint, BackendPreference.ANY, options
            )
        finally:
            form.close()
        if fmt is ResponseFormat.JSON:
            return Response({"text": done.result.transcript.text})  # OpenAI's json is the text only
        return transcription_response(done, fmt)
