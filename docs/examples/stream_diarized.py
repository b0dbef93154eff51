# The speaker tutorial's section 4 (diarized transcript), verbatim inside main(); its
# "# ... push audio ..." is filled in as the quickstart pushes a file (then close).
# Needs SCAIGRID_HOST, SCAIGRID_API_KEY and meeting.wav.
import asyncio
import json
import os

import websockets

url = (
    os.environ["SCAIGRID_HOST"].replace("http", "ws", 1)
    + "/v1/modules/scaiecho/stream/transcribe"
    + f"?token={os.environ['SCAIGRID_API_KEY']}"
)


# fmt: off
async def main():
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({
            "type": "open",
            "language_hint": "en",
            "media_type": "audio/wav",
            "diarize": True,
        }))
        print(await ws.recv())  # {"type": "ready", "backend_used": "A"}
        # ... push audio ...
        with open("meeting.wav", "rb") as f:
            while chunk := f.read(16000):
                await ws.send(chunk)
        await ws.send(json.dumps({"type": "close"}))
        async for msg in ws:
            d = json.loads(msg)
            if d.get("type") == "delta":
                print(d.get("speaker_label", "?"), d["text"])
# fmt: on


asyncio.run(main())
