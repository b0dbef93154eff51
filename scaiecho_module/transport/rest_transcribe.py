"""REST: POST /transcribe (multipart). Parses the form, calls TranscribeService, encodes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.errors import UNSUPPORTED_MEDIA_TYPE, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.transport.upload_form import (
    UploadForm,
    UploadLimits,
    cancel_on_disconnect,
    read_upload_form,
)
from scaiecho_module.transport.views import transcription_view

_FIELDS = frozenset({"file", "language_hint", "backend_preference"})
# Multipart framing and text fields on top of the audio itself.
FORM_OVERHEAD = 256 * 1024
_PREFERENCES = ", ".join(p.value for p in BackendPreference)


def _invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


def _text_field(form: UploadForm, name: str) -> str | None:
    value = form.texts.get(name)
    return (value.strip() or None) if value is not None else None


def _preference(raw: str | None) -> BackendPreference:
    if raw is None:
        return BackendPreference.ANY
    try:
        return BackendPreference(raw)
    except ValueError:
        raise _invalid("backend_preference", f"backend_preference must be one of: {_PREFERENCES}") from None


def _announced_length(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("content-length", "")
    return int(raw) if raw.isdigit() else None


class TranscribeController(Controller):
    path = "/transcribe"

    @post(opt={"permission": PERM_TRANSCRIBE}, status_code=HTTP_200_OK)
    async def transcribe(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        transcriptions: NamedDependency[TranscribeService],
        upload_limits: NamedDependency[UploadLimits],
    ) -> Response[Any]:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ScaiEchoError(
                UNSUPPORTED_MEDIA_TYPE, "send the audio as multipart/form-data with a 'file' field"
            )
        boundary = request.content_type[1].get("boundary")
        if not boundary:
            raise _invalid("form", "multipart boundary missing in Content-Type")
        form = await read_upload_form(
            request.receive, boundary.encode("latin-1"), "file", _FIELDS, upload_limits,
            _announced_length(request),
        )  # fmt: skip
        try:
            if form.file is None:
                raise _invalid("file", "a 'file' part with the audio is required")
            language_hint = _text_field(form, "language_hint")
            preference = _preference(_text_field(form, "backend_preference"))
            form.file.seek(0)
            outcome = await cancel_on_disconnect(
                request.receive,
                transcriptions.accept(
                    principal, form.file, form.size, form.filename, language_hint, preference
                ),
            )
        finally:
            form.close()
        if isinstance(outcome, TranscriptionJobView):
            location = f"{request.url.path}/jobs/{outcome.id}"
            body = {"data": outcome}
            return Response(body, status_code=HTTP_202_ACCEPTED, headers={"Location": location})
        return Response({"data": transcription_view(outcome)}, status_code=HTTP_200_OK)
