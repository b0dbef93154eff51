"""The server hands each received Opus packet to the decoder as soon as every packet before
it has (aiortc waited for four more: 80 ms on every live final, bench/webrtc_sessions.py),
gives a lost packet up without falling behind for good, fills the gap with silence so the
session's clock stays the sender's, and decodes on the event loop, not in a thread per
receiver."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import get_encoder
from aiortc.contrib.media import MediaPlayer
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from scaiecho_module import metrics
from scaiecho_module.transport import webrtc_net
from tests.support import recordings

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def _packet(sequence: int, data: bytes | None = None) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=sequence % 65536, timestamp=960 * sequence % 2**32)
    packet._data = bytes([sequence % 256]) if data is None else data  # type: ignore[attr-defined]
    return packet


def _released(buffer: JitterBuffer, sequence: int) -> list[int]:
    """The packets (by their first byte) due once ``sequence`` is in: ``add``'s, then ``take``'s."""
    frame = buffer.add(_packet(sequence))[1]
    if frame is None:
        return []
    extra = buffer.take() if isinstance(buffer, webrtc_net.AudioJitterBuffer) else []
    return [f.data[0] for f in (frame, *extra)]


def test_a_packet_is_handed_on_as_soon_as_all_before_it_are() -> None:
    buffer = webrtc_net.AudioJitterBuffer(hold=0)
    assert [_released(buffer, s) for s in range(4)] == [[0], [1], [2], [3]]  # no wait for the next


def test_a_lost_packet_is_given_up_and_the_stream_does_not_fall_behind() -> None:
    ours = webrtc_net.AudioJitterBuffer(hold=0)
    aiortcs = JitterBuffer(capacity=16, prefetch=1)
    sent = [s for s in range(60) if s != 10]  # packet 10 never comes
    counted = metrics.WEBRTC_PACKETS_LOST._value.get()
    out = {s: _released(ours, s) for s in sent}
    assert all(out[s] == [s] for s in sent)  # each packet at its own arrival, 9 and 11 too
    assert ours.lost == 1 and metrics.WEBRTC_PACKETS_LOST._value.get() == counted + 1
    assert _released(ours, 10) == []  # a packet given up is dropped if it turns up late
    # What aiortc's own buffer does with the same packets: 9 is dropped with 10, nothing comes
    # out until the buffer is full, and then it stays 14 packets behind.
    theirs = {s: _released(aiortcs, s) for s in sent}
    assert theirs[59] == [45] and not any(9 in r for r in theirs.values())


def test_a_hold_waits_for_later_packets_and_puts_reordered_ones_in_order() -> None:
    buffer = webrtc_net.AudioJitterBuffer(hold=1)
    assert _released(buffer, 0) == []
    assert _released(buffer, 2) == [0]  # 1 may still come: it is one packet late
    assert _released(buffer, 1) == [1]
    assert _released(buffer, 3) == [2]
    # A burst lost: once more than the hold is past the gap, all that was waiting goes at once.
    held = webrtc_net.AudioJitterBuffer(hold=2)
    assert [_released(held, s) for s in (0, 1, 2)] == [[], [], [0]]
    assert _released(held, 7) == [1, 2]  # 3-6 lost; 7 waits for two after it
    assert held.lost == 4
    assert [_released(held, s) for s in (8, 9)] == [[], [7]]


def test_sequence_numbers_wrap_and_a_restarted_sender_starts_over() -> None:
    buffer = webrtc_net.AudioJitterBuffer(hold=0)
    assert [_released(buffer, s) for s in (65534, 65535, 65536, 65537)] == [[254], [255], [0], [1]]
    assert _released(buffer, 65537 - 500) == [(65537 - 500) % 256]  # far behind: a new stream
    assert buffer.lost == 0


def _opus_packets(seconds: float) -> list[tuple[bytes, int]]:
    """Real Opus (aiortc's encoder) of a 440 Hz tone: (payload, RTP timestamp) per 20 ms."""
    encoder = get_encoder(OPUS)
    tone = (np.sin(np.arange(int(48000 * seconds)) * 2 * np.pi * 440 / 48000) * 8000).astype("<i2")
    out = []
    for start in range(0, len(tone), 960):
        frame = av.AudioFrame.from_ndarray(tone[None, start : start + 960], format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        payloads, timestamp = encoder.encode(frame)
        out += [(p, timestamp) for p in payloads]
    return out


def test_the_loop_decoder_fills_a_lost_packet_with_silence_and_logs_a_bad_frame_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    buffer = webrtc_net.AudioJitterBuffer(hold=0)
    error = threading.Event()
    decoder = webrtc_net.LoopDecoder(queue, error, buffer)
    packets = _opus_packets(1.0)
    for sequence, (payload, timestamp) in enumerate(packets):
        if sequence == 20:
            continue  # lost on the way
        packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=timestamp)
        packet._data = payload  # type: ignore[attr-defined]
        frame = buffer.add(packet)[1]
        if frame is not None:
            decoder.put((OPUS, frame))
    frames = [queue.get_nowait() for _ in range(queue.qsize())]
    assert sum(f.samples for f in frames) == 960 * len(packets)  # the sender's clock, gap and all
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and all(b.pts == a.pts + a.samples for a, b in itertools.pairwise(frames))
    gap = [f for f in frames if f.pts == packets[20][1]]
    assert len(gap) == 1 and not gap[0].to_ndarray().any()  # silence where packet 20 was
    assert frames[21].to_ndarray().any()

    caplog.set_level(logging.WARNING, "scaiecho.webrtc")
    for _ in range(3):  # a peer sending garbage: the receiver hears of each, the log of one
        error.clear()
        decoder.put((OPUS, JitterFrame(data=b"\xff" * 3, timestamp=0)))
        assert error.is_set()
    assert len([r for r in caplog.records if "failed to decode" in r.getMessage()]) == 1


def test_a_timestamp_jump_gets_no_more_silence_than_the_time_that_passed() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    buffer = webrtc_net.AudioJitterBuffer(hold=0)
    decoder = webrtc_net.LoopDecoder(queue, threading.Event(), buffer)
    packets = _opus_packets(0.2)
    jump = 48000 // 2  # the sender's clock leaps 0.5 s ahead, at once
    for sequence, (payload, timestamp) in enumerate(packets):
        packet = RtpPacket(
            payload_type=111, sequence_number=sequence, timestamp=timestamp + jump * (sequence >= 5)
        )
        packet._data = payload  # type: ignore[attr-defined]
        frame = buffer.add(packet)[1]
        assert frame is not None
        decoder.put((OPUS, frame))
    frames = [queue.get_nowait() for _ in range(queue.qsize())]
    filler = sum(f.samples for f in frames) - 960 * len(packets)
    assert 0 < filler <= 0.07 * 48000  # a packet's slack (0.06 s), not the half second claimed


def test_received_opus_is_decoded_on_the_loop_and_the_track_still_ends() -> None:
    """A real aiortc sender on loopback publishes real speech; the receiver decodes on the loop
    (``prepare_receiver``): all of it comes out of the track, with no silence of our own on
    a path that loses nothing, and stopping ends the track and the receiver's (idle) thread."""

    async def main() -> tuple[list[Any], bool, object]:
        sender, receiver = RTCPeerConnection(), RTCPeerConnection()
        player = MediaPlayer(str(recordings.librivox("0930").wav))
        sender.addTrack(player.audio)
        tracks: list[MediaStreamTrack] = []
        receiver.on("track", tracks.append)
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        rtp = receiver.getTransceivers()[0].receiver
        webrtc_net.prepare_receiver(rtp, 0)
        decoder = getattr(rtp, webrtc_net._DECODER_QUEUE)
        put = decoder.put

        def noting(task: object) -> None:
            decoded_on.add(threading.get_ident())
            put(task)

        decoder.put = noting
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        frames: list[Any] = []
        ended = False
        try:
            while True:
                frames.append(await asyncio.wait_for(tracks[0].recv(), 5))
                if sum(f.samples for f in frames) >= 48000 * 2:  # two seconds in: hang up
                    await sender.close()
                    await receiver.close()
        except MediaStreamError:
            ended = True
        return frames, ended, decoder

    decoded_on: set[int] = set()
    frames, ended, decoder = asyncio.run(main())
    assert isinstance(decoder, webrtc_net.LoopDecoder)
    assert decoded_on == {threading.get_ident()}  # asyncio.run's loop: this thread, no other
    assert sum(f.samples for f in frames) >= 48000 * 2  # 48 kHz Opus frames, two seconds and more
    assert {f.samples for f in frames} == {960}  # the sender's 20 ms frames, no filler between
    assert all(b.pts == a.pts + a.samples for a, b in itertools.pairwise(frames))
    assert ended  # the track ended when the receiver stopped, as with aiortc's own decoder
