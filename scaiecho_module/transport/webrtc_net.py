"""Where the server's WebRTC peers listen (local addresses and a UDP port range for aioice),
how long a received packet waits before it is decoded (a jitter buffer for Opus in place of
aiortc's), and where it is decoded (on the event loop, not in a thread of its own).

aioice gathers a host candidate on every interface but loopback, on an ephemeral port, and
has no setting for either. Operators need both (a firewall opens a port range; a host with
several interfaces names the one clients reach; tests use 127.0.0.1), so this installs, once
per process, two narrow replacements in aioice: the address list, and the loop call that
binds each candidate's socket (port 0 becomes the first free port of the range).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import types
from collections import deque
from typing import Any, cast

import aioice.ice
import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import MAX_MISORDER, JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from scaiecho_module import metrics
from scaiecho_module.config import WebRtcSettings

logger = logging.getLogger("scaiecho.webrtc")

_original_addresses = aioice.ice.get_host_addresses


class _RangeLoop:
    """The running loop, but a datagram endpoint on port 0 binds inside the range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
        self._loop = loop
        self._ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(factory, local_addr=local_addr, **kwargs)
        low, high = self._ports
        start = random.randint(low, high)  # noqa: S311 - spreading ports, not a secret
        for offset in range(high - low + 1):
            port = low + (start - low + offset) % (high - low + 1)
            try:
                return await self._loop.create_datagram_endpoint(
                    factory, local_addr=(local_addr[0], port), **kwargs
                )
            except OSError:
                continue
        raise OSError(f"no free UDP port in {low}-{high}")


def configure(settings: WebRtcSettings) -> None:
    addresses = settings.host_addresses

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if addresses:
            return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
        return _original_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)

    aioice.ice.get_host_addresses = host_addresses
    if settings.udp_port_min:
        ports = (settings.udp_port_min, settings.udp_port_max)
        proxy = types.ModuleType("asyncio")
        proxy.__dict__.update(asyncio.__dict__)
        proxy.get_running_loop = lambda: _RangeLoop(asyncio.get_running_loop(), ports)  # type: ignore[attr-defined]
        aioice.ice.asyncio = proxy  # type: ignore[attr-defined]
    else:
        aioice.ice.asyncio = asyncio  # type: ignore[attr-defined]


# aiortc's receiver holds these attributes (name-mangled, private): pinned in uv.lock, and
# tests/unit/test_webrtc_jitter.py fails on an aiortc that renames them.
_JITTER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"  # the receiver's queue to its decoder thread
_DECODER_ERROR = "_RTCRtpReceiver__decoder_error"  # the event that thread sets on a bad frame

# The longest timestamp gap filled with silence: a lost packet or a DTX pause is well under
# it; a longer jump (a sender that restarted its clock) is not audio anyone spoke.
_MAX_GAP_SECONDS = 1.0
_GAP_SLACK_SECONDS = 0.06  # how much sooner than its gap a frame after one may arrive
_WARN_EVERY_SECONDS = 60.0  # an undecodable frame is logged at most this often per receiver


class AudioJitterBuffer(JitterBuffer):
    """Puts a receiver's packets in order and hands each on once ``hold`` later ones are in.

    An RTP packet of Opus is one whole frame (RFC 7587), so a packet can go to the decoder as
    soon as all before it have. aiortc's buffer (built for video frames spread over packets)
    waits for the next packet to show a frame complete, 20 ms on every live final, and on a
    lost packet it drops the frame before the gap as well and, handing on one frame per
    packet received, stays 14 packets (280 ms) behind for the rest of the call. Here a packet
    still missing once more than ``hold`` later ones are in is given up (``lost``), and every
    packet then due is handed on: the first as ``add``'s frame, the rest by ``take``.
    """

    def __init__(self, capacity: int = 16, hold: int = 0) -> None:
        super().__init__(capacity)
        self._hold = hold
        self._next: int | None = None  # the sequence number due next
        self._newest = 0
        self._waiting: dict[int, RtpPacket] = {}  # at most hold + 1, all in (next, next + hold]
        self._due: deque[JitterFrame] = deque()
        self.lost = 0  # packets given up
        self.handed = 0  # the RTP timestamp of the frame ``add`` last returned

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence = packet.sequence_number
        if self._next is None:
            self._next = self._newest = sequence
        ahead = uint16_add(sequence, -self._next)
        if ahead >= 0x8000:  # before the packet due: late, a duplicate, or a restarted sender
            if uint16_add(self._next, -sequence) < MAX_MISORDER:
                return False, None
            self._waiting.clear()
            self._next = self._newest = sequence
            ahead = 0
        if ahead > uint16_add(self._newest, -self._next):
            self._newest = sequence
        self._waiting[sequence] = packet
        self._due.clear()  # what the receiver did not pass on to ``take`` (it stopped decoding)
        self._release()
        if not self._due:
            return False, None
        frame = self._due.popleft()
        self.handed = frame.timestamp  # before the receiver maps it onto the track's clock
        return False, frame

    def take(self) -> list[JitterFrame]:
        """Frames due beyond the one ``add`` returned (a gap given up can free several)."""
        due = list(self._due)
        self._due.clear()
        return due

    def _release(self) -> None:
        assert self._next is not None
        while self._waiting:
            past = uint16_add(self._newest, -self._next)  # packets in after the one due
            packet = self._waiting.pop(self._next, None)
            if packet is None:
                if past <= self._hold:
                    return  # it may still come
                skip = min(uint16_add(s, -self._next) for s in self._waiting)
                self.lost += skip
                metrics.WEBRTC_PACKETS_LOST.inc(skip)
                self._next = uint16_add(self._next, skip)
                continue
            if past < self._hold:
                self._waiting[self._next] = packet
                return
            self._due.append(JitterFrame(data=packet._data, timestamp=packet.timestamp))  # type: ignore[attr-defined]
            self._next = uint16_add(self._next, 1)


class LoopDecoder:
    """Stands in for an aiortc receiver's decoder queue: each Opus frame is decoded as it is
    put, on the event loop, and goes straight to the track, after silence for any gap in
    its timestamps (a packet given up, a DTX pause) so the session's clock stays the sender's.

    aiortc decodes in a thread per receiver, which hands every 20 ms frame back to the loop:
    two thread wake-ups per packet, each waiting for a core that Whisper's threads hold at
    load. An Opus frame decodes in well under a millisecond, so the loop does it itself. The
    receiver's thread still starts; it waits in ``get`` until the receiver stops, then ends
    the track as aiortc's own would.
    """

    def __init__(
        self, track_queue: asyncio.Queue[Any], error: threading.Event, buffer: AudioJitterBuffer
    ) -> None:
        self._out = track_queue
        self._error = error
        self._buffer = buffer
        self._stopped = threading.Event()
        self._codec: str | None = None
        self._decoder: Any = None
        self._expected: int | None = None  # the timestamp the next frame's audio starts at
        self._decoded_at: float | None = None  # when the previous frame was decoded (monotonic)
        self._warned: float | None = None  # when an undecodable frame was last logged

    def put(self, task: tuple[Any, Any] | None) -> None:
        if task is None:  # the receiver stops: its thread ends the track
            self._stopped.set()
            return
        codec, frame = task
        if codec.name != self._codec:
            self._decoder, self._codec = get_decoder(codec), codec.name
        # The receiver mapped the first frame's RTP timestamp onto the track's clock; the
        # frames freed with it are on the same clock, at the same offset.
        offset = frame.timestamp - self._buffer.handed
        self._decode(frame)
        for extra in self._buffer.take():
            extra.timestamp += offset
            self._decode(extra)

    def get(self) -> None:
        """The receiver's decoder thread: nothing to do until the receiver stops."""
        self._stopped.wait()

    def _decode(self, frame: JitterFrame) -> None:
        try:
            decoded = self._decoder.decode(frame)
        except av.FFmpegError as exc:  # as aiortc: keep the decoder, skip the frame
            now = time.monotonic()
            # A hostile peer can send 50 a second: the receiver hears of each, the log of few.
            if self._warned is None or now - self._warned >= _WARN_EVERY_SECONDS:
                self._warned = now
                logger.warning("an RTP audio frame failed to decode (%s)", type(exc).__name__)
            self._error.set()
            return
        for out in decoded:
            self._fill_gap(out)
            self._out.put_nowait(out)
            self._expected = out.pts + out.samples

    def _fill_gap(self, frame: av.AudioFrame) -> None:
        now = time.monotonic()
        since, self._decoded_at = self._decoded_at, now
        if self._expected is None or frame.pts is None or since is None:
            return
        # Never more silence than the time that passed (plus a packet's jitter): a peer that
        # jumps its timestamps gets no audio out of thin air, however far it jumps.
        room = (now - since + _GAP_SLACK_SECONDS) * frame.sample_rate
        gap = min(frame.pts - self._expected, int(room))
        if gap <= 0 or frame.pts - self._expected > _MAX_GAP_SECONDS * frame.sample_rate:
            return
        silence = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=gap)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate, silence.time_base = frame.sample_rate, frame.time_base
        silence.pts = frame.pts - gap
        self._out.put_nowait(silence)


def prepare_receiver(receiver: RTCRtpReceiver, hold: int) -> None:
    """Before the receiver starts (``setLocalDescription``): its packets wait for ``hold``
    later ones (``jitter_packets``), and its frames decode on the loop."""
    current: JitterBuffer = getattr(receiver, _JITTER_ATTRIBUTE)
    buffer = AudioJitterBuffer(capacity=current.capacity, hold=hold)
    setattr(receiver, _JITTER_ATTRIBUTE, buffer)
    track_queue = cast(Any, receiver.track)._queue  # RemoteStreamTrack's, which recv() reads
    setattr(receiver, _DECODER_QUEUE, LoopDecoder(track_queue, getattr(receiver, _DECODER_ERROR), buffer))
