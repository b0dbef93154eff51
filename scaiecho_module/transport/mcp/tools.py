"""The tools. Each one authenticates (the router's guard did), checks its REST twin's
permission, parses its arguments and calls the same service as REST; nothing else happens here.

No ``from __future__ import annotations``: the SDK reads these signatures at registration to
build the input and output schemas, and needs real types, not strings.
"""

import base64
import binascii
import io
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

import msgspec
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from scaiecho_module import metrics
from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.channels import Transport
from scaiecho_module.errors import (
    INTERNAL_ERROR,
    PAYLOAD_TOO_LARGE,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    ScaiEchoError,
)
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.jobs.service import JobService
from scaiecho_module.permissions import PERM_ENROLL, PERM_TRANSCRIBE
from scaiecho_module.speakers.service import SpeakerService
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.transport.auth import principal_in, require_permission
from scaiecho_module.transport.mcp.schemas import JobOut, SpeakerListOut, SpeakerOut, TranscribeOut
from scaiecho_module.transport.views import transcription_view

logger = logging.getLogger("scaiecho.mcp")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_PREFERENCES = [p.value for p in BackendPreference]


class McpLimits(Protocol):
    """What the transport needs of the module's MCP settings (``config.McpSettings``)."""

    @property
    def allowed_hosts(self) -> tuple[str, ...]: ...
    @property
    def allowed_origins(self) -> tuple[str, ...]: ...
    @property
    def max_audio_bytes(self) -> int: ...
    @property
    def max_base64_chars(self) -> int: ...
    @property
    def max_text_chars(self) -> int: ...


def _invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


def _principal(ctx: Context[Any, Any]) -> Principal:
    request = ctx.request_context.request
    if request is None:  # only HTTP requests reach these tools, and the guard ran on each
        raise ScaiEchoError(UNAUTHORIZED, "missing bearer token")
    return principal_in(request.scope)


def _result(model: BaseModel) -> CallToolResult:
    structured = model.model_dump(mode="json")
    # The spec asks for the JSON in a text block too, for clients that read only text.
    text = msgspec.json.encode(structured).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _error(exc: ScaiEchoError) -> CallToolResult:
    metrics.ERRORS.labels(exc.kind.code).inc()
    text = TextContent(type="text", text=f"{exc.kind.code}: {exc.message}")
    return CallToolResult(content=[text], structured_content=exc.envelope(), is_error=True)


async def _answer(call: Callable[[], Awaitable[BaseModel]]) -> CallToolResult:
    """A tool's outcome as a result: our errors keep their stable code, a fault shows none of itself."""
    try:
        return _result(await call())
    except ScaiEchoError as exc:
        return _error(exc)
    except Exception:
        logger.exception("unhandled error in an MCP tool")
        return _error(ScaiEchoError(INTERNAL_ERROR, "internal server error"))


def decode_audio(audio_base64: str, settings: McpLimits) -> bytes:
    # Bounded before decoding: the bytes never exist in memory when the text is too long.
    if len(audio_base64) > settings.max_text_chars:
        raise ScaiEchoError(
            PAYLOAD_TOO_LARGE,
            f"audio_base64 is longer than the {settings.max_base64_chars} characters "
            f"({settings.max_audio_bytes} bytes of audio) a call may carry; "
            "upload larger files with POST /transcribe",
            {"field": "audio_base64", "limit_bytes": settings.max_audio_bytes},
        )
    try:
        audio = base64.b64decode("".join(audio_base64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("audio_base64", "audio_base64 is not valid base64") from None
    if len(audio) > settings.max_audio_bytes:
        raise ScaiEchoError(
            PAYLOAD_TOO_LARGE,
            f"the audio is larger than the {settings.max_audio_bytes} bytes a call may carry",
            {"field": "audio_base64", "limit_bytes": settings.max_audio_bytes},
        )
    return audio


def parse_preference(raw: str | None) -> BackendPreference:
    try:
        return BackendPreference(raw or BackendPreference.ANY)
    except ValueError:
        raise _invalid(
            "backend_preference", f"backend_preference must be one of: {', '.join(_PREFERENCES)}"
        ) from None


def job_filename(filename: str | None, media_type: str | None) -> str:
    if media_type is not None and not _MEDIA_TYPE.match(media_type.strip()):
        raise _invalid("media_type", "media_type must look like audio/wav")
    if filename and filename.strip():
        return filename.strip()
    extension = None
    if media_type:
        kind = media_type.strip().lower()
        # Python knows some audio types only by their old x- names (audio/x-wav).
        extension = mimetypes.guess_extension(kind) or mimetypes.guess_extension(kind.replace("/", "/x-", 1))
    return f"audio{extension or ''}"


def _transcribe_out(outcome: Any) -> TranscribeOut:
    if isinstance(outcome, TranscriptionJobView):
        job = outcome
        return TranscribeOut(
            status="queued", id=job.id, job_id=job.job_id, transcript=None, segments=None,
            language=None, duration_seconds=None, backend_used=job.backend_used, model=None,
        )  # fmt: skip
    done = msgspec.to_builtins(transcription_view(outcome))
    return TranscribeOut(
        status="completed", id=done["id"], job_id=None, transcript=done["transcript"],
        segments=done["segments"], language=done["language"],
        duration_seconds=done["duration_seconds"], backend_used=done["backend_used"], model=done["model"],
    )  # fmt: skip


def register_tools(
    server: MCPServer, settings: McpLimits, transcribe: Callable[[], TranscribeService],
    jobs: Callable[[], JobService], speakers: Callable[[], SpeakerService],
) -> None:  # fmt: skip
    """Add the tools to ``server``; the services are looked up per call (they live in the lifespan)."""

    @server.tool(
        name="transcribe",
        title="Transcribe audio",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    )
    async def transcribe_tool(
        audio_base64: Annotated[
            str,
            Field(
                description="The audio file, base64-encoded (WAV, MP3, FLAC, Ogg, MP4/M4A, WebM, AAC); "
                f"at most {settings.max_audio_bytes} bytes of audio"
            ),
        ],
        ctx: Context[Any, Any],
        filename: Annotated[
            str | None, Field(description="The file's name, kept on a queued job; not used to decode")
        ] = None,
        media_type: Annotated[
            str | None,
            Field(description="The audio's media type, e.g. audio/wav; the bytes decide the format"),
        ] = None,
        language_hint: Annotated[
            str | None, Field(description="A Whisper language code such as en, de or nl")
        ] = None,
        backend_preference: Annotated[
            str | None,
            Field(
                description="any (default), prefer_self_hosted or prefer_relay; the tenant policy decides",
                json_schema_extra={"enum": [*_PREFERENCES, None]},
            ),
        ] = None,
        diarize: Annotated[
            bool, Field(description="Ask for speaker attribution (needs scaiecho:diarize)")
        ] = False,
    ) -> Annotated[CallToolResult, TranscribeOut]:
        """Transcribe an audio file to text. Short audio is answered at once with the transcript
        and timed segments; audio over the inline threshold is queued and answered with a
        job_id to poll with get_transcription_job."""

        async def run() -> BaseModel:
            principal = _principal(ctx)
            require_permission(principal, PERM_TRANSCRIBE, "the transcribe tool")
            name = job_filename(filename, media_type)
            preference = parse_preference(backend_preference)
            audio = decode_audio(audio_base64, settings)
            outcome = await transcribe().accept(
                principal, io.BytesIO(audio), len(audio), name,
                (language_hint or "").strip() or None, preference,
                diarize=diarize, transport=Transport.MCP,
            )  # fmt: skip
            return _transcribe_out(outcome)

        return await _answer(run)

    @server.tool(
        name="get_transcription_job",
        title="Get a transcription job",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    async def get_transcription_job(
        job_id: Annotated[str, Field(description="The job_id the transcribe tool returned")],
        ctx: Context[Any, Any],
    ) -> Annotated[CallToolResult, JobOut]:
        """Show a queued transcription job: its status and progress, and once completed its
        transcript and segments. Poll until status is completed, failed or cancelled."""

        async def run() -> BaseModel:
            principal = _principal(ctx)
            require_permission(principal, PERM_TRANSCRIBE, "get_transcription_job")
            return JobOut.model_validate(msgspec.to_builtins(await jobs().get(principal, job_id)))

        return await _answer(run)

    @server.tool(
        name="list_speakers",
        title="List enrolled speakers",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    async def list_speakers(
        ctx: Context[Any, Any],
        limit: Annotated[int, Field(description="Speakers per page, 1 to 100")] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous page")] = None,
    ) -> Annotated[CallToolResult, SpeakerListOut]:
        """List the tenant's enrolled speaker profiles, newest first: ids and display names
        only. Needs scaiecho:enroll."""

        async def run() -> BaseModel:
            principal = _principal(ctx)
            require_permission(principal, PERM_ENROLL, "list_speakers")
            rows, next_cursor = await speakers().page(principal, limit, cursor)
            found = [SpeakerOut(speaker_id=str(row.id), display_name=row.display_name) for row in rows]
            return SpeakerListOut(speakers=found, next_cursor=next_cursor)

        return await _answer(run)
