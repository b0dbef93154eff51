# The quickstart's WebSocket step with Python's websockets, verbatim apart from the host line: replacing
# "http" by "ws" turns http:// into ws:// and https:// into wss://.
# Needs SCAIGRID_HOST, SCAIGRID_API_KEY and meeting.wav.
import asyncio
import json
import os

import websockets


async def main():
    url = (
        os.environ["SCAIGRID_HOST"].replace("http", "ws", 1)
        + "/v1/modules/scaiecho/stream/transcribe"
        + f"?token={os.environ['SCAIGRID_API_KEY']}"
    )
    async with websockets.connect(url) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "open",
                    "language_hint": "en",
                    "media_type": "audio/wav",
                    "chunk_seconds": 5.0,
                }
            )
        )
        print(await ws.recv())  # {"type": "ready", ...}
        with open("meeting.wav", "rb") as f:
            while chunk := f.read(16000):
                await ws.send(chunk)
        await ws.send(json.dumps({"type": "close"}))
        async for msg in ws:
            print(msg)


asyncio.run(main())
