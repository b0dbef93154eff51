"""REST: POST /transcribe (multipart). Parses the form, calls TranscribeService, encodes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.errors import UNSUPPORTED_MEDIA_TYPE, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.transport.views import transcription_view

_FIELDS = {"file", "language_hint", "backend_preference"}
_PREFERENCES = ", ".join(p.value for p in BackendPreference)


def _invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


def _text_field(form: dict[str, Any], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, f"'{name}' must be a text field")
    return value.strip() or None


def _preference(raw: str | None) -> BackendPreference:
    if raw is None:
        return BackendPreference.ANY
    try:
        return BackendPreference(raw)
    except ValueError:
        raise _invalid("backend_preference", f"backend_preference must be one of: {_PREFERENCES}") from None


async def _close_uploads(values: list[Any]) -> None:
    for value in values:
        if isinstance(value, UploadFile):
            await value.close()


class TranscribeController(Controller):
    path = "/transcribe"

    @post(opt={"permission": PERM_TRANSCRIBE}, status_code=HTTP_200_OK)
    async def transcribe(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        transcriptions: NamedDependency[TranscribeService],
    ) -> Response[Any]:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ScaiEchoError(
                UNSUPPORTED_MEDIA_TYPE, "send the audio as multipart/form-data with a 'file' field"
            )
        try:
            parts = list((await request.form()).multi_items())
        except (UnicodeDecodeError, LookupError):
            # Litestar decodes text parts with the part's declared charset (UTF-8 by default):
            # undecodable bytes or an unknown charset are the client's error, not ours.
            raise _invalid("form", "a text field is not valid text in its declared charset") from None
        form = dict(parts)
        try:
            repeated = sorted({name for name, _ in parts if sum(1 for n, _ in parts if n == name) > 1})
            if repeated:
                raise _invalid(repeated[0], f"field '{repeated[0]}' was sent more than once")
            unknown = sorted(set(form) - _FIELDS)
            if unknown:
                raise _invalid(
                    unknown[0], f"unknown field(s): {', '.join(unknown)}; expected {sorted(_FIELDS)}"
                )
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise _invalid("file", "a 'file' part with the audio is required")
            language_hint = _text_field(form, "language_hint")
            preference = _preference(_text_field(form, "backend_preference"))
            audio_file = upload.file
            audio_file.seek(0, 2)
            size = audio_file.tell()
            audio_file.seek(0)
            outcome = await transcriptions.accept(
                principal, audio_file, size, upload.filename or "", language_hint, preference
            )
        finally:
            await _close_uploads([value for _, value in parts])
        if isinstance(outcome, TranscriptionJobView):
            location = f"{request.url.path}/jobs/{outcome.id}"
            body = {"data": outcome}
            return Response(body, status_code=HTTP_202_ACCEPTED, headers={"Location": location})
        return Response({"data": transcription_view(outcome)}, status_code=HTTP_200_OK)
