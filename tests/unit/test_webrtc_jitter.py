"""The server decodes each received Opus packet after one more has come, not aiortc's four
(80 ms on every live final; bench/webrtc_sessions.py)."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from scaiecho_module.transport import webrtc_net


def _packet(sequence: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=960 * sequence)
    packet._data = bytes([sequence])  # type: ignore[attr-defined]  # what the buffer joins into a frame
    return packet


def test_the_receivers_jitter_buffer_is_replaced_with_the_configured_hold() -> None:
    async def main() -> JitterBuffer:
        peer = RTCPeerConnection()
        try:
            receiver = peer.addTransceiver("audio").receiver
            webrtc_net.hold_packets(receiver, 1)
            return getattr(receiver, webrtc_net._JITTER_ATTRIBUTE)  # type: ignore[no-any-return]
        finally:
            await peer.close()

    buffer = asyncio.run(main())
    assert buffer.capacity == 16
    # Packet 0 is decoded as soon as packet 1 shows it complete; aiortc's default waited for 4.
    assert buffer.add(_packet(0))[1] is None
    frame = buffer.add(_packet(1))[1]
    assert frame is not None and frame.data == b"\x00"
    # Reordered packets still come out in order: 3 before 2 releases nothing.
    assert buffer.add(_packet(3))[1] is None
    released = buffer.add(_packet(2))[1]
    assert released is not None and released.data == b"\x01"
