"""``scaiecho-stream``: stream a file (or the microphone) to /stream/transcribe and print deltas.

    scaiecho-stream meeting.wav                 # paced in real time, like a live speaker
    scaiecho-stream meeting.mp3 --fast          # as fast as the server takes it
    scaiecho-stream --mic                       # default microphone (needs `sounddevice`)

Reads SCAIGRID_HOST and SCAIGRID_API_KEY. Partials overwrite the current line; finals stay.
Any file PyAV can read is decoded locally and sent as 16 kHz PCM16, which is what ScaiVoice
sends too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

FRAME_MS = 20
SAMPLES_PER_FRAME = 16 * FRAME_MS


async def file_frames(path: Path, realtime: bool) -> AsyncIterator[bytes]:
    from scaiecho_module.audio.decode import decode_file

    with path.open("rb") as handle:
        audio = decode_file(handle)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    started = time.monotonic()
    for index, begin in enumerate(range(0, len(pcm), SAMPLES_PER_FRAME)):
        if realtime:
            await asyncio.sleep(max(0.0, started + index * FRAME_MS / 1000 - time.monotonic()))
        yield pcm[begin : begin + SAMPLES_PER_FRAME].tobytes()


async def mic_frames() -> AsyncIterator[bytes]:
    try:
        import sounddevice  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit(
            "--mic needs the sounddevice package (pip install sounddevice) and a microphone"
        ) from None
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def callback(data: Any, *_: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, bytes(data))

    with sounddevice.RawInputStream(
        samplerate=16000, channels=1, dtype="int16", blocksize=SAMPLES_PER_FRAME, callback=callback
    ):
        print("listening; Ctrl+C to stop", file=sys.stderr)
        while True:
            yield await queue.get()


async def run(url: str, token: str, frames: AsyncIterator[bytes], language: str | None) -> int:
    import websockets

    code = 0
    # No pong deadline: while the server applies backpressure it reads nothing, our pings
    # included, yet the session is healthy (it is transcribing what it already has).
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(url, additional_headers=headers, ping_timeout=None) as ws:
        await ws.send(json.dumps({"type": "open", "media_type": "audio/pcm", "language_hint": language}))

        async def send() -> None:
            try:
                async for frame in frames:
                    await ws.send(frame)
            finally:
                await ws.send(json.dumps({"type": "close"}))

        sender = asyncio.create_task(send())
        try:
            async for message in ws:
                frame = json.loads(message)
                kind = frame.get("type")
                if kind == "delta" and frame["is_final"]:
                    print(f"\r\033[K[{frame['start']:7.2f}-{frame['end']:7.2f}] {frame['text']}", flush=True)
                elif kind == "delta":
                    print(f"\r\033[K... {frame['text']}", end="", flush=True)
                elif kind == "error":
                    print(f"\nerror {frame['code']}: {frame['message']}", file=sys.stderr)
                    code = 1
                else:
                    print(f"\r\033[K# {json.dumps(frame)}", file=sys.stderr)
        finally:
            sender.cancel()
    return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scaiecho-stream", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, help="audio file to stream")
    source.add_argument("--mic", action="store_true", help="stream the default microphone")
    parser.add_argument("--fast", action="store_true", help="send as fast as possible, not in real time")
    parser.add_argument("--language", default=None, help="language hint, e.g. en")
    parser.add_argument("--host", default=os.environ.get("SCAIGRID_HOST", "http://127.0.0.1:8080"))
    args = parser.parse_args(argv)
    token = os.environ.get("SCAIGRID_API_KEY")
    if not token:
        parser.error("set SCAIGRID_API_KEY (scaigrid-stub dev-setup prints one)")
    url = args.host.replace("http", "ws", 1) + "/v1/modules/scaiecho/stream/transcribe"
    frames = mic_frames() if args.mic else file_frames(args.file, realtime=not args.fast)
    try:
        sys.exit(asyncio.run(run(url, token, frames, args.language)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
