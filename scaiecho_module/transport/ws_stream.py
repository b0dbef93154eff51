"""WebSocket /stream/transcribe: frames in and out; the live session does the work.

Client -> server: ``{"type": "open", ...}`` first, then binary audio, then ``{"type": "close"}``.
Server -> client: ``ready``, ``delta`` (repeated), ``info`` (e.g. backpressure), ``error``,
``closed``. Close codes follow the ScaiVoice table (4400, 4401, 4403, 4502, 4500, 1000) plus
4402 when the tenant's budget runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.errors import (
    ALREADY_OPEN,
    INTERNAL_ERROR,
    MALFORMED_FRAME,
    NOT_OPEN,
    UNKNOWN_FRAME_TYPE,
    VALIDATION_ERROR,
    ScaiEchoError,
)
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.streaming.service import (
    BackendSwitched,
    LiveSession,
    OpenRequest,
    SessionEnded,
    StreamTranscribeService,
)
from scaiecho_module.transcript import Delta
from scaiecho_module.transport.auth import Authenticator

logger = logging.getLogger("scaiecho.ws")
_OPEN_FIELDS = {"type", "language_hint", "media_type", "chunk_seconds", "diarize", "backend_preference"}


class _Idle(Exception):
    pass


class _ClientGone(Exception):
    pass


async def _receive(socket: WebSocket[Any, Any, Any], idle: float) -> dict[str, Any]:
    # Raw events: iter_data() in text mode would silently drop binary audio frames.
    try:
        event = await asyncio.wait_for(socket.receive(), idle)
    except TimeoutError:
        raise _Idle from None
    if event["type"] == "websocket.disconnect":
        raise _ClientGone
    return dict(event)


async def _fail(socket: WebSocket[Any, Any, Any], error: ScaiEchoError) -> None:
    with contextlib.suppress(Exception):
        await socket.send_json(
            {"type": "error", "code": error.kind.code, "message": error.message, **error.details}
        )
        await socket.close(code=error.kind.close_code, reason=error.kind.code)


def _control(event: dict[str, Any]) -> dict[str, Any]:
    text = event.get("text")
    if text is None:
        raise ScaiEchoError(NOT_OPEN, "send an open control frame before audio")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        raise ScaiEchoError(MALFORMED_FRAME, "control frames must be JSON objects") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ScaiEchoError(MALFORMED_FRAME, 'control frames must be JSON objects with a "type"')
    return frame


def _open_request(frame: dict[str, Any]) -> OpenRequest:
    unknown = sorted(set(frame) - _OPEN_FIELDS)
    if unknown:
        raise ScaiEchoError(
            VALIDATION_ERROR, f"unknown open field(s): {', '.join(unknown)}", {"field": unknown[0]}
        )
    media_type = frame.get("media_type")
    if not isinstance(media_type, str) or not media_type:
        raise ScaiEchoError(
            VALIDATION_ERROR, "open needs a media_type, e.g. audio/pcm", {"field": "media_type"}
        )
    chunk = frame.get("chunk_seconds")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int | float)):
        raise ScaiEchoError(VALIDATION_ERROR, "chunk_seconds must be a number", {"field": "chunk_seconds"})
    if isinstance(chunk, int) and abs(chunk) > 10**6:
        # JSON integers are unbounded; one past float's range would raise OverflowError later.
        raise ScaiEchoError(VALIDATION_ERROR, "chunk_seconds is out of range", {"field": "chunk_seconds"})
    diarize = frame.get("diarize", False)
    if not isinstance(diarize, bool):
        raise ScaiEchoError(VALIDATION_ERROR, "diarize must be true or false", {"field": "diarize"})
    language = frame.get("language_hint")
    if language is not None and not isinstance(language, str):
        raise ScaiEchoError(VALIDATION_ERROR, "language_hint must be a string", {"field": "language_hint"})
    try:
        preference = BackendPreference(frame.get("backend_preference", "any"))
    except ValueError:
        raise ScaiEchoError(
            VALIDATION_ERROR, "backend_preference must be prefer_self_hosted, prefer_relay or any",
            {"field": "backend_preference"},
        ) from None  # fmt: skip
    return OpenRequest(media_type, language, None if chunk is None else float(chunk), diarize, preference)


def _delta_frame(delta: Delta) -> dict[str, Any]:
    return {
        "type": "delta",
        "text": delta.text,
        "is_final": delta.is_final,
        "start": delta.start,
        "end": delta.end,
    }


async def _write(socket: WebSocket[Any, Any, Any], session: LiveSession) -> SessionEnded:
    async for item in session.deltas():
        if isinstance(item, SessionEnded):
            return item
        if isinstance(item, BackendSwitched):
            await socket.send_json(
                {"type": "info", "code": "BACKEND_SWITCHED", "backend_used": item.backend_used,
                 "message": f"the session's backend failed; it continues on backend {item.backend_used} "
                            f"from its last final, nothing is lost"}
            )  # fmt: skip
            continue
        await socket.send_json(_delta_frame(item))
    raise RuntimeError("session ended without an end marker")


@websocket("/stream/transcribe", opt={"permission": PERM_TRANSCRIBE})
async def stream_transcribe(
    socket: WebSocket[Any, Any, Any],
    streams: NamedDependency[StreamTranscribeService],
    auth: NamedDependency[Authenticator],
    live_idle_seconds: NamedDependency[float],
) -> None:
    await socket.accept()
    idle = live_idle_seconds
    try:
        principal = await auth.principal(socket, PERM_TRANSCRIBE)
        frame = _control(await _receive(socket, idle))
        if frame["type"] != "open":
            raise ScaiEchoError(NOT_OPEN, 'the first frame must be {"type": "open", ...}')
        session = await streams.open(principal, _open_request(frame))
    except ScaiEchoError as exc:
        await _fail(socket, exc)
        return
    except (_Idle, _ClientGone):
        with contextlib.suppress(Exception):
            await socket.close(code=1000, reason="idle_timeout")
        return
    except Exception:
        logger.exception("stream: opening a session failed")
        await _fail(socket, ScaiEchoError(INTERNAL_ERROR, "could not open the session"))
        return
    await socket.send_json(
        {"type": "ready", "session_id": session.id, "backend_used": session.backend_used,
         "media_type": session.request.media_type, "sample_rate": 16000}
    )  # fmt: skip
    writer = asyncio.create_task(_write(socket, session))
    reason = await _read(socket, session, idle, writer)
    if reason is not None:  # the client left, went quiet or broke the protocol
        await session.abort(reason)
        writer.cancel()
        await asyncio.wait([writer])  # wait without re-raising its CancelledError
        if reason == "idle_timeout":
            with contextlib.suppress(Exception):
                await socket.send_json(
                    {"type": "closed", "reason": reason, "session_id": session.id,
                     "audio_seconds": round(session.audio_seconds, 3)}
                )  # fmt: skip
                await socket.close(code=1000, reason=reason)
        return
    try:
        ended = await writer
    except Exception:  # a send to a vanished client failed before its disconnect was read
        await session.abort("client_gone")
        return
    if ended.error is not None:
        await _fail(socket, ended.error)
        return
    with contextlib.suppress(Exception):
        await socket.send_json(
            {"type": "closed", "reason": ended.reason, "session_id": session.id,
             "audio_seconds": round(ended.audio_seconds, 3)}
        )  # fmt: skip
        await socket.close(code=1000, reason=ended.reason)


async def _read(
    socket: WebSocket[Any, Any, Any], session: LiveSession, idle: float, writer: asyncio.Task[SessionEnded]
) -> str | None:
    """Feed the session until the client closes it (None) or leaves / goes idle (the reason)."""
    warned = False
    try:
        while not writer.done():
            receive = asyncio.ensure_future(_receive(socket, idle))
            done, _ = await asyncio.wait({receive, writer}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:  # the session ended by itself (error, budget)
                receive.cancel()
                return None
            event = receive.result()
            if event.get("bytes") is not None:
                if await session.feed(event["bytes"]) and not warned:
                    warned = True
                    await socket.send_json(
                        {"type": "info", "code": "BACKPRESSURE",
                         "message": "audio arrives faster than it is transcribed: reading pauses while "
                                    "the backlog drains; nothing is dropped"}
                    )  # fmt: skip
                continue
            frame = _control(event)
            if frame["type"] == "close":
                await session.close()
                return None
            if frame["type"] == "open":
                raise ScaiEchoError(ALREADY_OPEN, "this session is already open")
            raise ScaiEchoError(UNKNOWN_FRAME_TYPE, f"unknown frame type {frame['type']!r}")
        return None
    except _Idle:
        return "idle_timeout"
    except _ClientGone:
        return "client_gone"
    except ScaiEchoError as exc:
        await session.abort(exc.kind.code)
        writer.cancel()
        await _fail(socket, exc)
        return "error"
    except WebSocketDisconnect:
        return "client_gone"
    except Exception:
        logger.exception("stream %s: reader failed", session.id)
        await session.abort(INTERNAL_ERROR.code)
        writer.cancel()
        await _fail(socket, ScaiEchoError(INTERNAL_ERROR, "live transcription failed"))
        return "error"
