"""REST: /speakers — enroll (multipart), list, show, warm and erase speaker profiles.

Every handler needs ``scaiecho:enroll`` (biometric capture; ``transcribe`` does not imply it).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from scaiecho_module.errors import (
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_ERROR,
    ScaiEchoError,
)
from scaiecho_module.host_contract import Principal
from scaiecho_module.languages import check_language_hint
from scaiecho_module.permissions import PERM_ENROLL
from scaiecho_module.speakers.erasure import ErasureService
from scaiecho_module.speakers.schemas import SpeakerPage, WarmResultView, WarmStateView
from scaiecho_module.speakers.service import EnrollmentForm, SpeakerService
from scaiecho_module.transport.speaker_views import erasure_view, node_results, profile_view

_TEXT = {
    "display_name": (True, 200),
    "language_primary": (False, 16),
    "description": (False, 2000),
    "consent_user_full_name": (True, 200),
    "consent_stated_purpose": (True, 2000),
    "consent_text": (True, 4000),
}
_FILES = ("reference", "consent")


def _invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


def _text(form: dict[str, Any], name: str) -> str | None:
    required, limit = _TEXT[name]
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(name, f"'{name}' must be a text field")
    value = (value or "").strip() or None
    if value is None and required:
        raise _invalid(name, f"the '{name}' field is required")
    if value is not None and len(value) > limit:
        raise _invalid(name, f"'{name}' is longer than {limit} characters")
    return value


def _upload(form: dict[str, Any], name: str, limit: int) -> UploadFile:
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        raise _invalid(name, f"a '{name}' file part with the recording is required")
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    if size > limit:
        raise ScaiEchoError(
            PAYLOAD_TOO_LARGE, f"'{name}' is larger than {limit} bytes", {"limit_bytes": limit, "field": name}
        )
    return upload


class WarmRequest(msgspec.Struct, forbid_unknown_fields=True):
    node_ids: list[str] = []


class SpeakerController(Controller):
    path = "/speakers"
    opt = {"permission": PERM_ENROLL}

    @post(status_code=HTTP_201_CREATED)
    async def enroll(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        speakers: NamedDependency[SpeakerService],
    ) -> Response[Any]:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ScaiEchoError(
                UNSUPPORTED_MEDIA_TYPE,
                "send the enrollment as multipart/form-data (reference, consent, fields)",
            )
        try:
            parts = list((await request.form()).multi_items())
        except (UnicodeDecodeError, LookupError):
            raise _invalid("form", "a text field is not valid text in its declared charset") from None
        form = dict(parts)
        try:
            names = [name for name, _ in parts]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise _invalid(repeated[0], f"field '{repeated[0]}' was sent more than once")
            unknown = sorted(set(form) - set(_TEXT) - set(_FILES))
            if unknown:
                raise _invalid(unknown[0], f"unknown field(s): {', '.join(unknown)}")
            fields = {name: _text(form, name) for name in _TEXT}
            language = fields["language_primary"]
            limit = speakers.upload_limit
            reference, consent = (_upload(form, name, limit) for name in _FILES)
            enrollment, block = await speakers.enroll(
                principal,
                EnrollmentForm(
                    display_name=fields["display_name"] or "",
                    language_primary=check_language_hint(language) if language else None,
                    description=fields["description"],
                    consent_user_full_name=fields["consent_user_full_name"] or "",
                    consent_stated_purpose=fields["consent_stated_purpose"] or "",
                    consent_text=fields["consent_text"] or "",
                ),
                reference.file,
                consent.file,
            )
        finally:
            for _, value in parts:
                if isinstance(value, UploadFile):
                    await value.close()
        view = profile_view(enrollment.profile)
        view.preflight, view.enrolled_on, view.note = block, enrollment.enrolled_on, enrollment.note
        location = f"{request.url.path.rstrip('/')}/{view.id}"
        return Response({"data": view}, status_code=HTTP_201_CREATED, headers={"Location": location})

    @get()
    async def list_speakers(
        self,
        principal: NamedDependency[Principal],
        speakers: NamedDependency[SpeakerService],
        limit: int = 20,
        cursor: str | None = None,
    ) -> SpeakerPage:
        rows, next_cursor = await speakers.page(principal, limit, cursor)
        return SpeakerPage([profile_view(row) for row in rows], next_cursor)

    @get("/{speaker_id:str}")
    async def get_speaker(
        self,
        principal: NamedDependency[Principal],
        speakers: NamedDependency[SpeakerService],
        erasures: NamedDependency[ErasureService],
        request: Request[Any, Any, Any],
        speaker_id: str,
    ) -> dict[str, Any]:
        profile, consent = await speakers.get(principal, speaker_id)
        view = profile_view(profile, consent)
        view.preflight = profile.preflight
        return {"data": view}

    @get("/{speaker_id:str}/warm")
    async def warm_state(
        self,
        principal: NamedDependency[Principal],
        speakers: NamedDependency[SpeakerService],
        erasures: NamedDependency[ErasureService],
        request: Request[Any, Any, Any],
        speaker_id: str,
    ) -> dict[str, Any]:
        state = await speakers.warm_state(principal, speaker_id)
        return {
            "data": WarmStateView(
                speaker_id, state.warm_node_ids, state.candidate_node_ids, state.stale_node_ids
            )
        }

    # A list of node ids: read whole, so bounded far below Litestar's 10 MB default.
    @post("/{speaker_id:str}/warm", status_code=HTTP_200_OK, request_max_body_size=64 * 1024)
    async def warm(
        self,
        principal: NamedDependency[Principal],
        speakers: NamedDependency[SpeakerService],
        erasures: NamedDependency[ErasureService],
        request: Request[Any, Any, Any],
        speaker_id: str,
    ) -> dict[str, Any]:
        body = await request.body()
        try:
            wanted = msgspec.json.decode(body, type=WarmRequest) if body.strip() else WarmRequest()
        except msgspec.ValidationError as exc:
            raise _invalid("node_ids", f'body must be {{"node_ids": [...]}}: {exc}') from None
        except msgspec.DecodeError:
            raise _invalid("body", "the body is not JSON") from None
        service = speakers
        profile, results = await service.warm(principal, speaker_id, wanted.node_ids)
        state = await service.warm_state(principal, speaker_id)
        return {
            "data": WarmResultView(
                str(profile.id), profile.status, node_results(results), state.warm_node_ids
            )
        }

    @delete("/{speaker_id:str}", status_code=HTTP_200_OK)
    async def erase(
        self,
        principal: NamedDependency[Principal],
        speakers: NamedDependency[SpeakerService],
        erasures: NamedDependency[ErasureService],
        request: Request[Any, Any, Any],
        speaker_id: str,
    ) -> dict[str, Any]:
        return {"data": erasure_view(await erasures.erase(principal, speaker_id))}
