"""REST: POST /transcribe (multipart). Parses the form, calls TranscribeService, encodes."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.transport.form import (
    flag,
    form_options,
    invalid,
    language,
    read_multipart,
    response_format,
    text_field,
)
from scaiecho_module.transport.openapi import (
    TRANSCRIBE_FIELDS,
    JobEnvelope,
    TranscriptionEnvelope,
    VerboseTranscription,
    errors,
    multipart,
    success,
)
from scaiecho_module.transport.upload_form import UploadLimits, cancel_on_disconnect
from scaiecho_module.transport.views import transcription_response
from scaiecho_module.webhooks.service import WebhookRequest

_FIELDS = frozenset(
    {"file", "language_hint", "backend_preference", "response_format", "prompt", "hotwords", "diarize"}
    | {"webhook_url", "webhook_auth"}
)
# Multipart framing and text fields on top of the audio itself.
FORM_OVERHEAD = 256 * 1024
_PREFERENCES = ", ".join(p.value for p in BackendPreference)
_MIB = 1024 * 1024


def _preference(raw: str | None) -> BackendPreference:
    if raw is None:
        return BackendPreference.ANY
    try:
        return BackendPreference(raw)
    except ValueError:
        raise invalid("backend_preference", f"backend_preference must be one of: {_PREFERENCES}") from None


def _webhook(url: str | None, auth: str | None) -> WebhookRequest | None:
    """``webhook_url`` (checked by the service) and its optional ``Authorization`` value."""
    url = (url or "").strip() or None
    if url is None:
        if auth is not None:
            raise invalid("webhook_auth", "webhook_auth needs webhook_url")
        return None
    return WebhookRequest(url, auth.strip() or None if auth is not None else None)


def poll_after(job: TranscriptionJobView) -> int:
    """Seconds before the first poll: a second per 2 MiB uploaded, 2 to 30 s."""
    return max(2, min(30, math.ceil(job.size_bytes / (2 * _MIB))))


class TranscribeController(Controller):
    path = "/transcribe"

    @post(
        opt={"permission": PERM_TRANSCRIBE},
        status_code=HTTP_200_OK,
        summary="Transcribe a file: inline (200) or as a queued job (202)",
        operation_class=multipart(TRANSCRIBE_FIELDS, ["file"]),
        responses={
            200: success(TranscriptionEnvelope | VerboseTranscription, "Transcribed inline"),
            202: success(JobEnvelope, "Queued as a transcription job; Location names it", formats=False),
            **errors(400, 401, 402, 403, 413, 415, 422, 503),
        },
    )
    async def transcribe(
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
            language_hint = language(text_field(form, "language_hint"))
            preference = _preference(text_field(form, "backend_preference"))
            fmt = response_format(text_field(form, "response_format"))
            options = form_options(form)
            diarize = flag(text_field(form, "diarize"), "diarize")
            webhook = _webhook(form.texts.get("webhook_url"), form.texts.get("webhook_auth"))
            form.file.seek(0)
            outcome = await cancel_on_disconnect(
                request.receive,
                transcriptions.accept(
                    principal, form.file, form.size, form.filename, language_hint, preference, options,
                    diarize=diarize,
                    webhook=webhook,
                ),
            )  # fmt: skip
        finally:
            form.close()
        if isinstance(outcome, TranscriptionJobView):
            # A queued job answers with the job whatever the format: its transcript does not
            # exist yet. GET /transcribe/jobs/{id}?format=... renders it once it is completed.
            location = f"{request.url.path}/jobs/{outcome.id}"
            headers = {"Location": location, "Retry-After": str(poll_after(outcome))}
            return Response({"data": outcome}, status_code=HTTP_202_ACCEPTED, headers=headers)
        return transcription_response(outcome, fmt)
