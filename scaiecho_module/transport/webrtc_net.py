"""Where the server's WebRTC peers listen (local addresses and a UDP port range for aioice),
how long a received packet waits before it is decoded (aiortc's jitter buffer), and where it
is decoded (on the event loop, not in a thread of its own).

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
import types
from typing import Any, cast

import aioice.ice
import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterBuffer

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


# aiortc's receiver holds this attribute (name-mangled, private): pinned in uv.lock, and
# tests/unit/test_webrtc_jitter.py fails on an aiortc that renames it.
_JITTER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"


def hold_packets(receiver: RTCRtpReceiver, packets: int) -> None:
    """Decode each Opus packet once ``packets`` complete ones are in (``jitter_packets``).

    aiortc's audio receiver waits for 4 (80 ms) before it decodes one: smoothing for playback.
    Transcription plays nothing back, and the buffer puts reordered packets in order anyway (it
    releases nothing past a gap until the gap fills or falls out of its 16 packets), so 1
    takes 60 ms off every live final.
    """
    current: JitterBuffer = getattr(receiver, _JITTER_ATTRIBUTE)
    setattr(receiver, _JITTER_ATTRIBUTE, JitterBuffer(capacity=current.capacity, prefetch=packets))


# The receiver's queue to its decoder thread, and the event that thread sets on a bad frame
# (private, like the jitter buffer's: tests/unit/test_webrtc_jitter.py fails on a rename).
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_ERROR = "_RTCRtpReceiver__decoder_error"


class LoopDecoder:
    """Stands in for an aiortc receiver's decoder queue: each complete Opus frame is decoded
    as it is put, on the event loop, and goes straight to the track.

    aiortc decodes in a thread per receiver, which hands every 20 ms frame back to the loop:
    two thread wake-ups per packet, each waiting for a core that Whisper's threads hold at
    load. An Opus frame decodes in well under a millisecond, so the loop does it itself. The
    receiver's thread still starts; it waits in ``get`` until the receiver stops, then ends
    the track as aiortc's own would.
    """

    def __init__(self, track_queue: asyncio.Queue[Any], error: threading.Event) -> None:
        self._out = track_queue
        self._error = error
        self._stopped = threading.Event()
        self._codec: str | None = None
        self._decoder: Any = None

    def put(self, task: tuple[Any, Any] | None) -> None:
        if task is None:  # the receiver stops: its thread ends the track
            self._stopped.set()
            return
        codec, frame = task
        if codec.name != self._codec:
            self._decoder, self._codec = get_decoder(codec), codec.name
        try:
            decoded = self._decoder.decode(frame)
        except av.FFmpegError as exc:  # as aiortc: keep the decoder, skip the frame
            logger.warning("an RTP audio frame failed to decode (%s)", type(exc).__name__)
            self._error.set()
            return
        for out in decoded:
            self._out.put_nowait(out)

    def get(self) -> None:
        """The receiver's decoder thread: nothing to do until the receiver stops."""
        self._stopped.wait()


def decode_on_loop(receiver: RTCRtpReceiver) -> None:
    """Before the receiver starts (``setLocalDescription``): its frames decode on the loop."""
    track_queue = cast(Any, receiver.track)._queue  # RemoteStreamTrack's, which recv() reads
    setattr(receiver, _DECODER_QUEUE, LoopDecoder(track_queue, getattr(receiver, _DECODER_ERROR)))
