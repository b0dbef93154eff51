"""``scaiecho-stream``: stream a file (or the microphone) to /stream/transcribe and print deltas.

    scaiecho-stream meeting.wav                 # paced in real time, like a live speaker
    scaiecho-stream meeting.mp3 --fast          # as fast as the server takes it
    scaiecho-stream --mic                       # default microphone (needs `sounddevice`)
    scaiecho-stream talk.wav --json | jq .      # every frame as one JSON line
    scaiecho-stream talk.ogg --media-type audio/ogg   # the file's own bytes, decoded by the server

Reads SCAIGRID_HOST and SCAIGRID_API_KEY. On a terminal, partials overwrite the current line
and finals stay; when stdout is not a terminal (a pipe, a file) only finals are written, one
plain line each, ``[start-end] text`` (with ``speaker: `` when diarized). ``--json`` writes
every frame the server sends as one JSON line instead. Any file PyAV can read is decoded
locally and sent as 16 kHz PCM16, which is what ScaiVoice sends too, unless ``--media-type``
names the file's own format: then its bytes go as they are and the server decodes them.
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


async def raw_frames(path: Path, chunk_bytes: int = 16 * 1024) -> AsyncIterator[bytes]:
    """The file's own bytes (``--media-type``): the server decodes them, unpaced."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk
            await asyncio.sleep(0)


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


class Printer:
    """How frames reach the user: live line on a terminal, plain finals in a pipe, or JSON lines."""

    def __init__(self, as_json: bool, tty: bool) -> None:
        self.as_json, self.tty = as_json, tty

    def frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if self.as_json:
            print(json.dumps(frame), flush=True)
            if kind == "error":
                print(f"error {frame.get('code')}: {frame.get('message')}", file=sys.stderr)
            return
        clear = "\r\033[K" if self.tty else ""
        if kind == "delta" and frame["is_final"]:
            who = f"{frame['speaker_label']}: " if frame.get("speaker_label") else ""
            print(f"{clear}[{frame['start']:7.2f}-{frame['end']:7.2f}] {who}{frame['text']}", flush=True)
        elif kind == "delta":
            if self.tty:
                print(f"{clear}... {frame['text']}", end="", flush=True)
        elif kind == "error":
            print(f"{chr(10) if self.tty else ''}error {frame['code']}: {frame['message']}", file=sys.stderr)
        else:
            print(f"# {json.dumps(frame)}", file=sys.stderr)


async def run(
    url: str, token: str, frames: AsyncIterator[bytes], open_frame: dict[str, Any], printer: Printer
) -> int:
    import websockets

    code = 0
    # No pong deadline: while the server applies backpressure it reads nothing, our pings
    # included, yet the session is healthy (it is transcribing what it already has).
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(url, additional_headers=headers, ping_timeout=None) as ws:
        await ws.send(json.dumps(open_frame))

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
                printer.frame(frame)
                if frame.get("type") == "error":
                    code = 1
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
    parser.add_argument("--json", action="store_true", help="write every frame as one JSON line")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="the open frame's chunk_seconds")
    parser.add_argument(
        "--media-type", default=None,
        help="send the file's own bytes as this type (audio/wav, audio/ogg, ...); default: PCM decoded here",
    )  # fmt: skip
    parser.add_argument("--diarize", action="store_true", help="speaker labels (needs scaiecho:diarize)")
    parser.add_argument("--prompt", default=None, help="initial prompt (context, spellings)")
    parser.add_argument("--hotwords", default=None, help="phrases to favour")
    parser.add_argument("--host", default=os.environ.get("SCAIGRID_HOST", "http://127.0.0.1:8080"))
    args = parser.parse_args(argv)
    token = os.environ.get("SCAIGRID_API_KEY")
    if not token:
        parser.error("set SCAIGRID_API_KEY (scaigrid-stub dev-setup prints one)")
    if args.media_type and args.mic:
        parser.error("--media-type sends a file's own bytes; the microphone is always PCM")
    url = args.host.replace("http", "ws", 1) + "/v1/modules/scaiecho/stream/transcribe"
    open_frame: dict[str, Any] = {"type": "open", "media_type": args.media_type or "audio/pcm"}
    if args.language:
        open_frame["language_hint"] = args.language
    if args.chunk_seconds is not None:
        open_frame["chunk_seconds"] = args.chunk_seconds
    if args.diarize:
        open_frame["diarize"] = True
    for hint in ("prompt", "hotwords"):  # checked by the server, as the file command's are
        if getattr(args, hint) is not None:
            open_frame[hint] = getattr(args, hint)
    if args.mic:
        frames = mic_frames()
    elif args.media_type:
        frames = raw_frames(args.file)
    else:
        frames = file_frames(args.file, realtime=not args.fast)
    printer = Printer(args.json, sys.stdout.isatty())
    try:
        sys.exit(asyncio.run(run(url, token, frames, open_frame, printer)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
