"""A real WebRTC client peer (aiortc) for the raw session API: offer, answer, control socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from scaiecho_module.config import WebRtcSettings
from scaiecho_module.transport import webrtc_net

# The client side gathers on loopback too (aioice skips 127.0.0.1 by default).
webrtc_net.configure(WebRtcSettings(host_addresses=("127.0.0.1",)))


@dataclass
class PeerRun:
    status: int
    body: dict[str, Any]
    frames: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    ended_after: float | None = None  # seconds from the vanish (or close) to the socket's close
    arrivals: list[float] = field(default_factory=list)  # wall-clock arrival time of each frame
    audio_zero: float | None = None  # wall-clock time of the WAV's time zero, as the player paced it
    finalized_at: float | None = None  # wall-clock time the client sent ``finalize``
    pair: tuple[str, str] | None = None  # the client's nominated ICE pair: (local, remote) candidate types
    # (audio seconds at a frame's start, at its end, wall-clock time it went to the sender)
    sent: list[tuple[float, float, float]] = field(default_factory=list)

    def sent_at(self, audio_seconds: float) -> float | None:
        """Wall-clock time the audio at ``audio_seconds`` was spoken, on the rule the WebSocket
        clients go by (a frame goes out at its start, and the audio in it is dated from
        there): the frame holding it went to the sender, plus its offset in that frame."""
        return next(
            (
                wall + max(0.0, audio_seconds - start)
                for start, end, wall in self.sent
                if end >= audio_seconds - 1e-6
            ),
            None,
        )

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "delta" and f["is_final"]]

    @property
    def text(self) -> str:
        return " ".join(f["text"] for f in self.finals)


async def offer(
    wav: Path | None,
    ice_servers: list[dict[str, Any]] | None = None,
    relay_only: bool = False,
    start_at: float | None = None,
) -> tuple[RTCPeerConnection, MediaPlayer | None]:
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    servers = [RTCIceServer(**s) for s in ice_servers or []]
    peer = RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
    player = MediaPlayer(str(wav)) if wav else None
    if player is not None:
        peer.addTrack(SendClock(player.audio, start_at))
    else:
        peer.addTransceiver("audio", direction="sendonly")
    await peer.setLocalDescription(await peer.createOffer())
    return peer, player


class SendClock(MediaStreamTrack):
    """The player's audio, noting when each frame goes to the RTP sender (encoded and sent
    at once): a benchmark's exact clock even when the player, on a busy machine, runs late.
    ``start_at``: the first frame is not taken from the player before this wall-clock time
    (the player paces the rest from its first), so peers' audio starts when a benchmark
    says, however long each one's ICE and DTLS took."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, start_at: float | None = None) -> None:
        super().__init__()
        self._source = source
        self._start_at = start_at
        self.sent: list[tuple[float, float, float]] = []

    async def recv(self) -> Any:
        if not self.sent and self._start_at is not None:
            await asyncio.sleep(max(0.0, self._start_at - time.time()))
        try:
            frame = await self._source.recv()
        except MediaStreamError:
            self.stop()
            raise
        start = float(frame.time)
        self.sent.append((start, start + frame.samples / frame.sample_rate, time.time()))
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


async def create_session(api: str, token: str, sdp: str, **options: Any) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(
            f"{api}/stream/transcribe/webrtc/sessions",
            json={"type": "offer", "sdp": sdp, **options},
            headers={"Authorization": f"Bearer {token}"},
        )
    return resp.status_code, resp.json()


def _ice_connection(peer: RTCPeerConnection) -> Any:
    # aiortc's RTCIceTransport over its aioice Connection (private: the only view of the pair).
    return peer.getTransceivers()[0].receiver.transport.transport.iceGatherer._connection


def _nominated(peer: RTCPeerConnection) -> tuple[str, str] | None:
    pair = _ice_connection(peer)._nominated.get(1)
    return None if pair is None else (pair.local_candidate.type, pair.remote_candidate.type)


def _tear_down_sockets(peer: RTCPeerConnection) -> None:
    """The peer's UDP sockets close under it: no DTLS close_notify, no STUN, no RTCP BYE,
    as when a laptop's network goes away; the server hears nothing more."""
    for protocol in _ice_connection(peer)._protocols:
        if protocol.transport is not None:
            protocol.transport.abort()


async def publish(
    api: str,
    token: str,
    wav: Path,
    vanish_after: float | None = None,
    *,
    teardown: bool = False,
    finalize_after: float | None = None,
    ice_servers: list[dict[str, Any]] | None = None,
    relay_only: bool = False,
    start_at: float | None = None,
    **options: Any,
) -> PeerRun:
    """Publish ``wav`` in real time; then ``close`` on the control socket, or, with
    ``vanish_after``, stop sending at that point and never say goodbye (``teardown``: its
    sockets close instead of the track stopping). ``finalize_after``: send ``finalize`` that
    many seconds into the WAV. ``start_at``: the wall-clock time the audio starts (SendClock)."""
    peer, player = await offer(wav, ice_servers, relay_only, start_at)
    assert player is not None
    clock = peer.getSenders()[0].track  # the sender lets go of it when the track ends
    status, body = await create_session(api, token, peer.localDescription.sdp, **options)
    run = PeerRun(status, body)
    if status != 201:
        await peer.close()
        return run
    data = body["data"]

    await peer.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))
    async with websockets.connect(f"{data['control_url']}?token={token}", open_timeout=10) as ws:

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for message in ws:
                    run.frames.append(json.loads(message))
                    run.arrivals.append(time.time())

        reader = asyncio.create_task(read())
        started = time.monotonic()
        mark = 0.0
        if vanish_after is not None:
            await asyncio.sleep(vanish_after)
            mark = time.monotonic()
            run.pair = _nominated(peer)
            if teardown:
                _tear_down_sockets(peer)
            else:  # the sender stops and the sockets go quiet: no BYE, no DTLS close, no close frame
                for sender in peer.getSenders():
                    if sender.track is not None:
                        sender.track.stop()
        else:
            while player.audio.readyState != "ended" and time.monotonic() - started < 120:
                zero = getattr(player.audio, "_start", None)  # None until the first frame is sent
                if finalize_after is not None and zero is not None and run.finalized_at is None \
                        and time.time() >= zero + finalize_after:  # fmt: skip
                    await ws.send(json.dumps({"type": "finalize"}))
                    run.finalized_at = time.time()
                await asyncio.sleep(0.02)
            run.pair = _nominated(peer)
            await asyncio.sleep(0.5)
            await ws.send(json.dumps({"type": "KeepAlive"}))  # accepted as on the WebSocket
            mark = time.monotonic()
            await ws.send(json.dumps({"type": "close"}))
        await asyncio.wait_for(reader, 120)
        run.ended_after = time.monotonic() - mark
        run.close_code = ws.close_code
    # aiortc's player paces frames from the wall-clock time of its first frame (private, but
    # the only exact audio clock a benchmark has: the peer connects before audio flows).
    run.audio_zero = getattr(player.audio, "_start", None)
    if isinstance(clock, SendClock):
        run.sent = clock.sent
    await peer.close()
    return run
