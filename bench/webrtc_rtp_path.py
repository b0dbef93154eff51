"""The RTP audio path alone: how long a frame takes from an aiortc sender to our receiver.

    .venv/bin/python bench/webrtc_rtp_path.py [--clip 0870] [--jitter-packets 0] [--aiortc]

Two aiortc peers on loopback in this process, no server and no transcription: the sender
publishes a LibriVox clip through MediaPlayer (``SendClock`` notes when each frame goes to
the RTP sender), the receiver is prepared as the server's (``webrtc_net.prepare_receiver``:
our jitter buffer holding ``--jitter-packets``, Opus decoded on the loop; ``--aiortc``:
aiortc's own buffer and decoder thread) and resamples to 16 kHz mono as ``transport/webrtc.py``
does.
A frame's latency is the time its audio came out of the receiver's resampler minus the time
it went to the sender: Opus encoding, SRTP, the jitter buffer, decoding and resampling.
The first second is skipped (ICE and DTLS settle).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from scaiecho_module.transport import webrtc_net
from tests.support import recordings
from tests.support.webrtc_peer import SendClock


async def measure(wav: Path, packets: int | None) -> list[float]:
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    player = MediaPlayer(str(wav))
    clock = SendClock(player.audio)
    sender.addTrack(clock)
    came: list[tuple[float, float]] = []  # (audio seconds out of the resampler, wall time)
    reading: list[asyncio.Task[None]] = []

    async def read(track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        samples = 0
        try:
            while True:
                frame = await track.recv()
                samples += sum(out.samples for out in resampler.resample(frame))  # type: ignore[arg-type]
                came.append((samples / 16000, time.time()))
        except MediaStreamError:
            pass

    receiver.on("track", lambda track: reading.append(asyncio.ensure_future(read(track))))
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    for transceiver in receiver.getTransceivers():
        if packets is not None:
            webrtc_net.prepare_receiver(transceiver.receiver, packets)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    ended = asyncio.Event()
    player.audio.on("ended", ended.set)
    if player.audio.readyState != "ended":
        await ended.wait()
    await asyncio.sleep(0.5)
    await sender.close()
    await receiver.close()
    latencies = []
    for seconds, wall in came:
        sent = next((at for _, end, at in clock.sent if end >= seconds - 1e-6), None)
        if seconds > 1.0 and sent is not None:
            latencies.append(wall - sent)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", default="0870")
    parser.add_argument("--jitter-packets", type=int, default=0)
    parser.add_argument("--aiortc", action="store_true", help="aiortc's own receiver, as it ships")
    args = parser.parse_args()
    packets = None if args.aiortc else args.jitter_packets
    latencies = sorted(asyncio.run(measure(recordings.librivox(args.clip).wav, packets)))
    p95 = latencies[round(0.95 * (len(latencies) - 1))]
    what = "aiortc's receiver" if packets is None else f"jitter hold {packets} packet(s)"
    print(f"{what}, {len(latencies)} frames: latency "
          f"p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"min {latencies[0] * 1000:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
