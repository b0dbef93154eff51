"""REST and WebSocket endpoints of WebRTC sessions, and the stream tokens a page uses.

- ``POST /stream/tokens``: a key mints a short-lived stream token (stream_tokens.py).
- ``GET /stream/transcribe/webrtc/ice-servers``: the STUN/TURN list a client needs before it
  gathers the candidates of its offer (non-trickle: the answer comes too late for that).
- ``POST /stream/transcribe/webrtc/sessions``: SDP offer in, answer out (webrtc.py).
- ``GET``/``DELETE .../sessions/{id}``: its state; end it (gracefully: the last finals follow).
- ``WS .../sessions/{id}/control``: the WebSocket transport's frames (``ready``, ``delta``,
  ``info``, ``closed``/``error``); the client sends ``{"type": "close"}``. Its close
  closes the peer, and the peer's end closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from litestar import Controller, Request, WebSocket, delete, get, post, websocket
from litestar.di import NamedDependency

from scaiecho_module.errors import (
    ALREADY_OPEN,
    MALFORMED_FRAME,
    UNKNOWN_FRAME_TYPE,
    VALIDATION_ERROR,
    ScaiEchoError,
)
from scaiecho_module.host_contract import Principal
from scaiecho_module.live.events import SessionEnded
from scaiecho_module.permissions import PERM_DIARIZE, PERM_TRANSCRIBE
from scaiecho_module.transcript import Delta
from scaiecho_module.transport.auth import Authenticator
from scaiecho_module.transport.live_frames import (
    Closed,
    Ready,
    control_frame,
    delta_frame,
    encode,
    error_frame,
    frame_kind,
    info_frame,
)
from scaiecho_module.transport.openapi import errors
from scaiecho_module.transport.webrtc import MAX_OFFER_BODY, WebRtcSession, WebRtcSessions, iso_time

logger = logging.getLogger("scaiecho.webrtc")
Socket = WebSocket[Any, Any, Any]
_STREAMING = {"permission": PERM_TRANSCRIBE, "stream_token": True}
# What a stream token may carry: it is refused outside streaming, so nothing else is useful.
_TOKEN_PERMISSIONS = frozenset({PERM_TRANSCRIBE, PERM_DIARIZE})


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ScaiEchoError(VALIDATION_ERROR, "the body must be a JSON object", {"field": "body"}) from None
    if not isinstance(body, dict):
        raise ScaiEchoError(VALIDATION_ERROR, "the body must be a JSON object", {"field": "body"})
    return body


class StreamTokenController(Controller):
    path = "/stream/tokens"
    opt = {"permission": PERM_TRANSCRIBE}  # a key only: a stream token cannot mint another

    # Bodies are read whole: bounded far below Litestar's 10 MB default (413 with the limit).
    @post(status_code=201, responses=errors(400, 401, 403, 413), request_max_body_size=4096)
    async def mint_stream_token(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal],
        auth: NamedDependency[Authenticator],
    ) -> dict[str, Any]:  # fmt: skip
        body = _json_body(await request.body())
        unknown = sorted(set(body) - {"permissions", "expires_in_seconds"})
        if unknown:
            raise ScaiEchoError(VALIDATION_ERROR, f"unknown field {unknown[0]}", {"field": unknown[0]})
        wanted = body.get("permissions")
        if wanted is not None and not (isinstance(wanted, list) and all(isinstance(p, str) for p in wanted)):
            raise ScaiEchoError(
                VALIDATION_ERROR, "permissions must be a list of names", {"field": "permissions"}
            )
        seconds = body.get("expires_in_seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
            raise ScaiEchoError(
                VALIDATION_ERROR, "expires_in_seconds must be a number", {"field": "expires_in_seconds"}
            )
        permissions = principal.permissions & _TOKEN_PERMISSIONS if wanted is None else frozenset(wanted)
        if not permissions <= _TOKEN_PERMISSIONS:
            bad = sorted(permissions - _TOKEN_PERMISSIONS)[0]
            raise ScaiEchoError(
                VALIDATION_ERROR,
                f"a stream token cannot carry {bad}",
                {"field": "permissions", "permission": bad},
            )
        ttl = None if seconds is None else float(seconds)
        token, expires, granted = auth.tokens.mint(principal, permissions, ttl)
        return {"data": {"token": token, "token_type": "stream", "expires_at": iso_time(expires),
                         "expires_in_seconds": round(expires - time.time()),
                         "permissions": sorted(granted)}}  # fmt: skip


def _control_url(request: Request[Any, Any, Any], session_id: str) -> str:
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}{request.url.path.rstrip('/')}/{session_id}/control"


@get("/stream/transcribe/webrtc/ice-servers", opt=_STREAMING, responses=errors(401, 403))
async def webrtc_ice_servers(
    principal: NamedDependency[Principal], webrtc: NamedDependency[WebRtcSessions]
) -> dict[str, Any]:
    return {"data": {"ice_servers": webrtc.ice_servers(principal)}}


class WebRtcSessionController(Controller):
    path = "/stream/transcribe/webrtc/sessions"
    opt = _STREAMING

    @post(
        status_code=201,
        responses=errors(400, 401, 402, 403, 413, 429, 503),
        request_max_body_size=MAX_OFFER_BODY,
    )
    async def create_webrtc_session(
        self, request: Request[Any, Any, Any], principal: NamedDependency[Principal],
        webrtc: NamedDependency[WebRtcSessions],
    ) -> dict[str, Any]:  # fmt: skip
        session = await webrtc.create(principal, _json_body(await request.body()))
        return {"data": {"session_id": session.id, "type": "answer", "sdp": session.answer,
                         "control_url": _control_url(request, session.id), "ice_servers": session.ice_servers,
                         "backend_used": session.live.backend_used,
                         "expires_at": iso_time(session.expires_at)}}  # fmt: skip

    @get("/{session_id:str}", responses=errors(401, 403, 404))
    async def read_webrtc_session(
        self, session_id: str, principal: NamedDependency[Principal], webrtc: NamedDependency[WebRtcSessions]
    ) -> dict[str, Any]:
        return {"data": webrtc.get(session_id, principal).view()}

    @delete("/{session_id:str}", status_code=200, responses=errors(401, 403, 404))
    async def end_webrtc_session(
        self, session_id: str, principal: NamedDependency[Principal], webrtc: NamedDependency[WebRtcSessions]
    ) -> dict[str, Any]:
        session = webrtc.get(session_id, principal)
        await session.close()
        return {"data": session.view()}


async def _fail(socket: Socket, error: ScaiEchoError) -> None:
    with contextlib.suppress(Exception):
        await socket.send_data(encode(error_frame(error)))
        await socket.close(code=error.kind.close_code, reason=error.kind.code)


@websocket("/stream/transcribe/webrtc/sessions/{session_id:str}/control", opt=_STREAMING)
async def webrtc_control(
    socket: Socket,
    session_id: str,
    webrtc: NamedDependency[WebRtcSessions],
    auth: NamedDependency[Authenticator],
) -> None:
    await socket.accept()
    try:
        principal = await auth.principal(socket, PERM_TRANSCRIBE, stream_token=True)
        session = webrtc.get(session_id, principal)
        if session.control_attached:
            raise ScaiEchoError(ALREADY_OPEN, "this session's control socket is already connected")
    except ScaiEchoError as exc:
        await _fail(socket, exc)
        return
    session.control_attached = True
    reader = asyncio.create_task(_read(socket, session), name=f"webrtc-control-{session.id}")
    try:
        await socket.send_data(encode(Ready(session.id, session.live.backend_used, "audio/opus", 16000)))
        while True:
            event = await session.events.get()
            if isinstance(event, SessionEnded):
                break
            frame = delta_frame(event) if isinstance(event, Delta) else info_frame(event)
            await socket.send_data(encode(frame))
    except Exception:  # the control socket vanished while we wrote to it
        await session.abort("client_gone")
        return
    finally:
        reader.cancel()
        await asyncio.wait([reader])
    if event.error is not None:
        await _fail(socket, event.error)
    elif event.reason != "client_gone":
        with contextlib.suppress(Exception):
            await socket.send_data(encode(Closed(event.reason, session.id, event.audio_seconds)))
            await socket.close(code=1000, reason=event.reason)


async def _read(socket: Socket, session: WebRtcSession) -> None:
    """Client frames: ``close`` ends gracefully, ``finalize`` and ``keepalive`` as on the
    WebSocket; the socket's end ends the session and the peer."""
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                raise ScaiEchoError(
                    MALFORMED_FRAME, "audio goes over the WebRTC peer, not the control socket"
                )
            text = message.get("text")
            frame = control_frame(text if isinstance(text, str) else None)
            kind = frame_kind(frame)  # the WebSocket's control frames, spelt as it takes them
            if kind == "close":
                await session.close()
            elif kind == "finalize":
                session.live.finalize()
            elif kind != "keepalive":
                raise ScaiEchoError(UNKNOWN_FRAME_TYPE, f"unknown frame type {frame['type']!r}")
    except ScaiEchoError as exc:
        await session.live.fail(exc)
        return
    except Exception as exc:  # WebSocketDisconnect and friends: the client is gone
        logger.debug("webrtc %s: control socket ended: %s", session.id, type(exc).__name__)
    if not session.ended:
        await session.abort("client_gone")
