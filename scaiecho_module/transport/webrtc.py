"""WebRTC peers: the browser's Opus track received by aiortc, decoded into a live session.

One ``WebRtcSession`` pairs an aiortc peer with the ``LiveSession`` the live service opened
(the same policy, metering, audit and failover as the WebSocket) and, once it connects, a
control WebSocket that carries the WebSocket transport's frames. Audio goes in through the
session's non-blocking ``push``: RTP has no flow control, so overflow is dropped and counted.

Every way a session ends is bounded (``SCAIECHO_WEBRTC_CONNECT_SECONDS``,
``..._DISCONNECT_SECONDS``): a control socket that never connects (``control_timeout``),
ICE that never completes (``ice_timeout``) or fails (``ice_failed``), a peer whose audio
stops (``peer_gone``). Whatever ends first closes the other side: the live session's end
closes the peer, and the peer's end closes the session (usage settled for what was heard).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from scaiecho_module.config import WebRtcSettings
from scaiecho_module.errors import INVALID_SDP, NOT_FOUND, TOO_MANY_SESSIONS, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.live.events import LiveEvent, SessionEnded
from scaiecho_module.live.service import StreamTranscribeService
from scaiecho_module.live.session import LiveSession
from scaiecho_module.transport import webrtc_net
from scaiecho_module.transport.live_frames import open_request

logger = logging.getLogger("scaiecho.webrtc")
_MAX_SDP = 64 * 1024
# The session request's whole JSON body: the offer plus the open frame's few options.
MAX_OFFER_BODY = _MAX_SDP + 16 * 1024
_OPTION_FIELDS = {
    "language_hint", "backend_preference", "diarize", "chunk_seconds", "interim_results", "endpointing_ms",
    "word_timestamps", "prompt", "hotwords",
}  # fmt: skip


@dataclass(eq=False)
class WebRtcSession:
    live: LiveSession
    peer: RTCPeerConnection
    answer: str
    expires_at: float  # wall clock: the control socket and ICE must be up by then
    ice_servers: list[dict[str, object]] = field(default_factory=list)  # as given to the client
    events: asyncio.Queue[LiveEvent] = field(default_factory=asyncio.Queue)
    control_attached: bool = False
    closing: bool = False  # a graceful close was asked for: the peer's end is expected
    ended: SessionEnded | None = None
    audio_started: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.live.id

    def view(self) -> dict[str, Any]:
        state = "ended" if self.ended else ("live" if self.control_attached else "waiting_for_control")
        return {
            "session_id": self.id,
            "state": state,
            "ice_state": self.peer.iceConnectionState,
            "backend_used": self.live.backend_used,
            "audio_seconds": self.live.audio_seconds,
            "control_connected": self.control_attached,
            "expires_at": iso_time(self.expires_at),
        }

    async def close(self) -> None:
        """End gracefully: the recogniser flushes, the last finals and ``closed`` follow."""
        self.closing = True
        await self.live.close()

    async def abort(self, reason: str) -> None:
        await self.live.abort(reason)


def turn_credentials(server: dict[str, object], principal: Principal, now: float) -> dict[str, object]:
    """An ICE server entry as a client may see it. An entry with a TURN REST ``secret``
    (coturn ``--use-auth-secret``) gets a username ``<expiry>:<tenant>`` and its credential,
    base64(HMAC-SHA1(secret, username)): the TURN server checks both and the expiry, and the
    secret itself never leaves the process. Other entries are returned as configured."""
    if "secret" not in server:
        return dict(server)
    expiry = int(now + float(server.get("ttl_seconds", 86400)))  # type: ignore[arg-type]
    username = f"{expiry}:{principal.tenant_id}"
    digest = hmac.new(str(server["secret"]).encode(), username.encode(), hashlib.sha1).digest()
    entry = {k: v for k, v in server.items() if k not in {"secret", "ttl_seconds"}}
    return {**entry, "username": username, "credential": base64.b64encode(digest).decode()}


def iso_time(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


class WebRtcSessions:
    """The process's WebRTC sessions, by id, checked against the caller's tenant."""

    def __init__(self, streams: StreamTranscribeService, settings: WebRtcSettings) -> None:
        self._streams = streams
        self._settings = settings
        self._sessions: dict[str, WebRtcSession] = {}
        # Sessions that ended before their control socket connected (ICE failed at once):
        # kept until their connect deadline so the late socket still reads why, not a 404.
        self._unread: dict[str, WebRtcSession] = {}
        self._opening = 0
        webrtc_net.configure(settings)

    def ice_servers(self, principal: Principal) -> list[dict[str, object]]:
        now = time.time()
        return [turn_credentials(s, principal, now) for s in self._settings.ice_servers]

    def get(self, session_id: str, principal: Principal) -> WebRtcSession:
        found = self._sessions.get(session_id) or self._unread.get(session_id)
        if found is None or found.live.principal.tenant_id != principal.tenant_id:
            # Another tenant's session is not found, never forbidden: ids reveal nothing.
            raise ScaiEchoError(NOT_FOUND, "no such WebRTC session", {"session_id": session_id})
        return found

    async def close_all(self) -> None:
        """At shutdown: every session ends (metered for what it heard) and its peer closes."""
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await session.abort("server_shutdown")
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await session.peer.close()

    async def create(self, principal: Principal, body: dict[str, Any]) -> WebRtcSession:
        sdp = _offer_sdp(body)
        options = {k: v for k, v in body.items() if k not in {"sdp", "type"}}
        unknown = sorted(set(options) - _OPTION_FIELDS)
        if unknown:
            raise ScaiEchoError(
                VALIDATION_ERROR, f"unknown field(s): {', '.join(unknown)}", {"field": unknown[0]}
            )
        request = open_request({**options, "type": "open", "media_type": "audio/pcm"})
        if len(self._sessions) + self._opening >= self._settings.max_peers:
            raise ScaiEchoError(
                TOO_MANY_SESSIONS, "the server holds as many WebRTC peers as it can; retry shortly",
                {"scope": "webrtc", "limit": self._settings.max_peers},
            )  # fmt: skip
        self._opening += 1
        try:
            servers = self.ice_servers(principal)
            peer, track, answer = await self._negotiate(sdp, servers)
            try:
                live = await self._streams.open(principal, request, transport="webrtc")
            except BaseException:
                await peer.close()
                raise
        finally:
            self._opening -= 1
        session = WebRtcSession(live, peer, answer, time.time() + self._settings.connect_seconds, servers)
        self._sessions[session.id] = session
        session.tasks += [
            asyncio.create_task(self._pump(session), name=f"webrtc-pump-{session.id}"),
            asyncio.create_task(self._receive(session, track), name=f"webrtc-rtp-{session.id}"),
            asyncio.create_task(self._watch(session), name=f"webrtc-watch-{session.id}"),
        ]

        @peer.on("connectionstatechange")
        async def on_state() -> None:
            if peer.connectionState == "failed" and not session.closing:
                await session.abort("ice_failed")

        if peer.connectionState == "failed":  # it failed while the live session opened
            await session.abort("ice_failed")
        return session

    async def _negotiate(
        self, sdp: str, ice_servers: list[dict[str, object]]
    ) -> tuple[RTCPeerConnection, MediaStreamTrack, str]:
        servers = [RTCIceServer(**s) for s in ice_servers]  # type: ignore[arg-type]
        peer = RTCPeerConnection(RTCConfiguration(iceServers=servers))  # [] : no Google STUN default
        tracks: list[MediaStreamTrack] = []
        peer.on("track", lambda track: tracks.append(track) if track.kind == "audio" else None)
        try:
            await peer.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            for transceiver in peer.getTransceivers():
                if transceiver.kind == "audio":
                    webrtc_net.prepare_receiver(transceiver.receiver, self._settings.jitter_packets)
            if not tracks:
                raise ScaiEchoError(INVALID_SDP, "the offer sends no audio track (a=sendonly or sendrecv)")
            await peer.setLocalDescription(await peer.createAnswer())
            answer = peer.localDescription.sdp
            if "opus/48000" not in answer.lower():
                raise ScaiEchoError(INVALID_SDP, "the offer has no Opus audio codec this server can receive")
        except ScaiEchoError:
            await peer.close()
            raise
        except Exception as exc:  # aiortc's SDP parser raises ValueError, KeyError, IndexError...
            await peer.close()
            logger.info("webrtc: offer refused: %s", type(exc).__name__)
            raise ScaiEchoError(INVALID_SDP, "the offer's SDP could not be parsed or negotiated") from None
        return peer, tracks[0], answer

    async def _pump(self, session: WebRtcSession) -> None:
        """The live session's events, kept for the control socket; its end closes the peer."""
        try:
            async for event in session.live.events():
                if isinstance(event, SessionEnded):
                    session.ended = event
                session.events.put_nowait(event)
        finally:
            for task in session.tasks:
                if task is not asyncio.current_task():
                    task.cancel()
            with contextlib.suppress(Exception):
                await session.peer.close()
            self._sessions.pop(session.id, None)
            if not session.control_attached:
                self._unread[session.id] = session
                asyncio.get_running_loop().call_later(
                    max(0.0, session.expires_at - time.time()), self._unread.pop, session.id, None
                )

    async def _receive(self, session: WebRtcSession, track: MediaStreamTrack) -> None:
        """Decoded RTP audio into the session at 16 kHz mono; silence on the wire ends it."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        wait = self._settings.disconnect_seconds
        reason = "peer_gone"
        try:
            while True:
                # Until the first packet the watchdog bounds the wait (ICE may take a while).
                frame = await asyncio.wait_for(track.recv(), wait if session.audio_started else None)
                session.audio_started = True
                for out in resampler.resample(frame):  # type: ignore[arg-type]
                    pcm = out.to_ndarray().reshape(-1)
                    session.live.push((pcm.astype(np.float32) / 32768.0).astype(np.float32))
        except TimeoutError:
            logger.info("webrtc %s: no audio for %.1f s, the peer is gone", session.id, wait)
        except MediaStreamError:
            pass  # the peer closed its track or the connection
        except Exception:
            logger.exception("webrtc %s: receiving audio failed", session.id)
            reason = "error"
        if not session.closing:
            await session.abort(reason)

    async def _watch(self, session: WebRtcSession) -> None:
        """The control socket, ICE and the audio must all be up by ``expires_at``."""
        await asyncio.sleep(max(0.0, session.expires_at - time.time()))
        if session.ended or session.closing:
            return
        if not session.control_attached:
            await session.abort("control_timeout")
        elif session.peer.iceConnectionState not in {"connected", "completed"}:
            await session.abort("ice_timeout")
        elif not session.audio_started:
            # Connected, yet no RTP (a browser sends packets even for a muted microphone).
            await session.abort("peer_gone")


def _offer_sdp(body: dict[str, Any]) -> str:
    if body.get("type") != "offer":
        raise ScaiEchoError(VALIDATION_ERROR, 'type must be "offer"', {"field": "type"})
    sdp = body.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise ScaiEchoError(INVALID_SDP, "sdp must be the offer's SDP text", {"field": "sdp"})
    if len(sdp) > _MAX_SDP or not sdp.lstrip().startswith("v=0") or "m=audio" not in sdp:
        raise ScaiEchoError(INVALID_SDP, "sdp is not an SDP offer with an audio section", {"field": "sdp"})
    return sdp
