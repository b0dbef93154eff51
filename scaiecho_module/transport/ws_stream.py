"""WebSocket /stream/transcribe: frames in and out; the live session does the work.

The frames are in ``live_frames.py``. A client that sends everything as binary messages
(``websocat -b``) has its open line and, after a WAV, its close line read out of the byte
stream (``binary_control.py``). Close codes follow the ScaiVoice table (4400, 4401,
4403, 4502, 4500, 1000) plus 4402 when the tenant's budget runs out and 4429 when too many
live sessions are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from scaiecho_module.errors import ALREADY_OPEN, INTERNAL_ERROR, NOT_OPEN, UNKNOWN_FRAME_TYPE, ScaiEchoError
from scaiecho_module.host_contract import WS_HALF_CLOSE
from scaiecho_module.live.events import SessionEnded
from scaiecho_module.live.service import StreamTranscribeService
from scaiecho_module.live.session import LiveSession
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.transcript import Delta
from scaiecho_module.transport.auth import Authenticator
from scaiecho_module.transport.binary_control import Audio, OpenLine, WavTail
from scaiecho_module.transport.live_frames import (
    Closed,
    Ready,
    ServerFrame,
    control_frame,
    delta_frame,
    encode,
    error_frame,
    frame_kind,
    info_frame,
    open_request,
)

logger = logging.getLogger("scaiecho.ws")
Socket = WebSocket[Any, Any, Any]
_open_request = open_request  # the name the frame tests know


class _Idle(Exception):
    pass


class _ClientGone(Exception):
    """The client left. ``finished``: by a Close frame that the host holds open
    (``WS_HALF_CLOSE``): after its ``close`` the client still waits for the answers."""

    def __init__(self, finished: bool = False) -> None:
        super().__init__()
        self.finished = finished


async def _receive(socket: Socket, idle: float | None) -> dict[str, Any]:
    # Raw events: iter_data() in text mode would silently drop binary audio frames.
    try:
        event = await asyncio.wait_for(socket.receive(), idle)
    except TimeoutError:
        raise _Idle from None
    except WebSocketDisconnect:
        raise _ClientGone from None
    if event["type"] == "websocket.disconnect" or WS_HALF_CLOSE in event:
        raise _ClientGone
    return dict(event)


async def _ask_for_half_close(socket: Socket) -> None:
    """Where the host offers it, a client's Close frame after its last message does not
    cut off the answers still owed to it (``websocat -b`` closes as soon as its input ends)."""
    if WS_HALF_CLOSE in (socket.scope.get("extensions") or {}):
        await socket.send({"type": WS_HALF_CLOSE})  # type: ignore[typeddict-item]


def _control(event: dict[str, Any]) -> dict[str, Any]:
    return control_frame(event.get("text"))


_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave")


async def _first_frame(socket: Socket, idle: float) -> tuple[dict[str, Any], bytes | None]:
    """The open frame: a text message, or the first line of a binary stream starting with
    ``{``; for the latter also the bytes after its newline (the stream's first audio)."""
    event = await _receive(socket, idle)
    data = event.get("bytes")
    if data is None or not OpenLine.starts(data):
        return _control(event), None
    line = OpenLine()
    while (found := line.feed(data)) is None:
        event = await _receive(socket, idle)
        data = event.get("bytes")
        if data is None:
            raise ScaiEchoError(NOT_OPEN, "the open line in the binary stream has no newline")
    text, rest = found
    return control_frame(text), rest


async def _send(socket: Socket, frame: ServerFrame) -> None:
    await socket.send_data(encode(frame))


async def _fail(socket: Socket, error: ScaiEchoError) -> None:
    with contextlib.suppress(Exception):
        await _send(socket, error_frame(error))
        await socket.close(code=error.kind.close_code, reason=error.kind.code)


@websocket("/stream/transcribe", opt={"permission": PERM_TRANSCRIBE})
async def stream_transcribe(
    socket: Socket,
    streams: NamedDependency[StreamTranscribeService],
    auth: NamedDependency[Authenticator],
    live_idle_seconds: NamedDependency[float],
) -> None:
    await socket.accept()
    await _ask_for_half_close(socket)
    idle = live_idle_seconds
    try:
        principal = await auth.principal(socket, PERM_TRANSCRIBE, stream_token=True)
        frame, binary = await _first_frame(socket, idle)
        if frame["type"] != "open":
            raise ScaiEchoError(NOT_OPEN, 'the first frame must be {"type": "open", ...}')
        session = await streams.open(principal, open_request(frame))
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
    reader = asyncio.create_task(_read(socket, session, idle, binary), name=f"ws-read-{session.id}")
    try:
        await _send(socket, Ready(session.id, session.backend_used, session.request.media_type))
        ended = await _write(socket, session)
    except Exception:  # a send to a vanished client failed before its disconnect was read
        await session.abort("client_gone")
        return
    finally:
        reader.cancel()
        await asyncio.wait([reader])  # without re-raising its CancelledError
    if ended.error is not None:
        await _fail(socket, ended.error)
    elif ended.reason != "client_gone":
        with contextlib.suppress(Exception):
            await _send(socket, Closed(ended.reason, session.id, ended.audio_seconds))
            await socket.close(code=1000, reason=ended.reason)
    else:  # answers a Close the host held; fails quietly on a connection already gone
        with contextlib.suppress(Exception):
            await socket.close(code=1000, reason=ended.reason)


async def _write(socket: Socket, session: LiveSession) -> SessionEnded:
    async for item in session.events():
        if isinstance(item, SessionEnded):
            return item
        await _send(socket, delta_frame(item) if isinstance(item, Delta) else info_frame(item))
    raise RuntimeError("session ended without an end marker")


async def _on_control(session: LiveSession, frame: dict[str, Any]) -> bool:
    """One control frame after open; True once it closed the input."""
    kind = frame_kind(frame)
    if kind == "close":
        await session.close()
        return True
    if kind == "finalize":
        session.finalize()
    elif kind == "open":
        raise ScaiEchoError(ALREADY_OPEN, "this session is already open")
    elif kind != "keepalive":  # a keepalive only resets the idle timer: it was received
        raise ScaiEchoError(UNKNOWN_FRAME_TYPE, f"unknown frame type {frame['type']!r}")
    return False


class _Inbox:
    """The socket's next message, received one ahead of the session.

    While the session is fed (and may wait for room: backpressure), one ``receive()`` stays
    outstanding beside it, so a client that resets or leaves is seen at once and its work
    stops, instead of when reading resumes. At most one message is held here: the
    transport's own flow control still applies to everything behind it.
    """

    def __init__(self, socket: Socket) -> None:
        self._socket = socket
        self._next: asyncio.Task[Any] | None = None

    def _ahead(self) -> asyncio.Task[Any]:
        if self._next is None:
            self._next = asyncio.ensure_future(self._socket.receive())
        return self._next

    async def get(self, idle: float | None) -> dict[str, Any]:
        ahead = self._ahead()
        done, _ = await asyncio.wait([ahead], timeout=idle)
        if not done:
            raise _Idle  # the receive stays pending; ``cancel`` ends it
        self._next = None
        return _event(ahead)

    async def during(self, work: Awaitable[bool]) -> bool:
        """``work`` (feeding the session) while watching for the client leaving: if it does,
        ``work`` is cancelled and ``_ClientGone`` raised."""
        job = asyncio.ensure_future(work)
        try:
            ahead = self._ahead()
            await asyncio.wait([job, ahead], return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                if _finished(ahead):  # a Close right after this message: it still counts
                    await asyncio.wait([job])
                    if not job.result():  # and it was not the input's close
                        raise _ClientGone
                    return True  # the Close waits in ``ahead``; it ends the reading
                _gone(ahead)  # a message, not a disconnect: it waits here for its turn
                await asyncio.wait([job])
            return job.result()
        finally:
            if not job.done():
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)

    def cancel(self) -> None:
        if self._next is not None:
            self._next.cancel()


def _event(received: asyncio.Task[Any]) -> dict[str, Any]:
    try:
        event = received.result()
    except WebSocketDisconnect:
        raise _ClientGone from None
    if event["type"] == "websocket.disconnect":
        raise _ClientGone
    if WS_HALF_CLOSE in event:
        raise _ClientGone(finished=True)
    return dict(event)


def _finished(received: asyncio.Task[Any]) -> bool:
    """The finished receive is the client's held Close (``WS_HALF_CLOSE``)."""
    return received.exception() is None and WS_HALF_CLOSE in received.result()


def _gone(received: asyncio.Task[Any]) -> None:
    """Raise ``_ClientGone`` if the finished receive was the client leaving."""
    if received.exception() is not None or received.result()["type"] == "websocket.disconnect":
        _event(received)


async def _read(socket: Socket, session: LiveSession, idle: float, binary: bytes | None = None) -> None:
    """Feed the session; every way the input ends becomes the session's end (or its close).

    ``binary``: the open came as a binary stream's first line, these bytes followed it; a WAV
    in such a stream is followed to its end, where control lines may come.

    While a message is fed (backpressure may hold it), the next receive runs beside it
    (``_Inbox``): a client that leaves then ends the session at once. After ``close`` the
    socket is still read, only to notice a client that leaves while its last audio is
    transcribed: that work stops at once.
    """
    closed = False
    media_type = session.request.media_type.split(";")[0].strip().lower()
    tail = WavTail() if binary is not None and media_type in _WAV_TYPES else None
    inbox = _Inbox(socket)
    try:
        if binary:
            closed = await inbox.during(_binary(session, tail, binary))
        while True:
            event = await inbox.get(None if closed else idle)
            if closed:
                continue
            if event.get("bytes") is not None:
                closed = await inbox.during(_binary(session, tail, event["bytes"]))
                continue
            closed = await inbox.during(_on_control(session, _control(event)))
    except _Idle:
        await session.abort("idle_timeout")
    except _ClientGone as gone:
        if not (closed and gone.finished):  # after its close, a Close only ends the reading
            await session.abort("client_gone")
    except ScaiEchoError as exc:
        await session.fail(exc)
    except Exception:
        logger.exception("stream %s: reader failed", session.id)
        await session.fail(ScaiEchoError(INTERNAL_ERROR, "live transcription failed"))
    finally:
        inbox.cancel()


async def _binary(session: LiveSession, tail: WavTail | None, data: bytes) -> bool:
    """A binary message: audio, unless a WAV in a binary stream has ended (control lines)."""
    if tail is None:
        await session.feed(data)  # returns when the session has room
        return False
    for piece in tail.feed(data):
        if isinstance(piece, Audio):
            await session.feed(piece.data)
        elif await _on_control(session, control_frame(piece.text)):
            return True
    return False
