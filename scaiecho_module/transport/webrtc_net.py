"""Where the server's WebRTC peers listen (local addresses and a UDP port range for aioice),
and how long a received packet waits before it is decoded (aiortc's jitter buffer).

aioice gathers a host candidate on every interface but loopback, on an ephemeral port, and
has no setting for either. Operators need both (a firewall opens a port range; a host with
several interfaces names the one clients reach; tests use 127.0.0.1), so this installs, once
per process, two narrow replacements in aioice: the address list, and the loop call that
binds each candidate's socket (port 0 becomes the first free port of the range).
"""

from __future__ import annotations

import asyncio
import random
import types
from typing import Any

import aioice.ice
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer

from scaiecho_module.config import WebRtcSettings

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
