"""The server decodes each received Opus packet after one more has come, not aiortc's four
(80 ms on every live final; bench/webrtc_sessions.py), and on the event loop, not in a
thread per receiver."""

from __future__ import annotations

import asyncio
import threading

from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaPlayer
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from scaiecho_module.transport import webrtc_net
from tests.support import recordings


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


def test_received_opus_is_decoded_on_the_loop_and_the_track_still_ends() -> None:
    """A real aiortc sender on loopback publishes real speech; the receiver decodes on the loop
    (``decode_on_loop``): all of it comes out of the track, and stopping ends the track and
    the receiver's (idle) decoder thread."""

    async def main() -> tuple[int, bool, object]:
        sender, receiver = RTCPeerConnection(), RTCPeerConnection()
        player = MediaPlayer(str(recordings.librivox("0930").wav))
        sender.addTrack(player.audio)
        tracks: list[MediaStreamTrack] = []
        receiver.on("track", tracks.append)
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        rtp = receiver.getTransceivers()[0].receiver
        webrtc_net.hold_packets(rtp, 1)
        webrtc_net.decode_on_loop(rtp)
        decoder = getattr(rtp, webrtc_net._DECODER_QUEUE)
        put = decoder.put

        def noting(task: object) -> None:
            decoded_on.add(threading.get_ident())
            put(task)

        decoder.put = noting
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        samples = 0
        ended = False
        try:
            while True:
                frame = await asyncio.wait_for(tracks[0].recv(), 5)
                samples += frame.samples  # type: ignore[union-attr]
                if samples >= 48000 * 2:  # two seconds in: hang up
                    await sender.close()
                    await receiver.close()
        except MediaStreamError:
            ended = True
        return samples, ended, decoder

    decoded_on: set[int] = set()
    samples, ended, decoder = asyncio.run(main())
    assert isinstance(decoder, webrtc_net.LoopDecoder)
    assert decoded_on == {threading.get_ident()}  # asyncio.run's loop: this thread, no other
    assert samples >= 48000 * 2  # 48 kHz Opus frames, two seconds and more
    assert ended  # the track ended when the receiver stopped, as with aiortc's own decoder
