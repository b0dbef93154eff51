# The transcribe tool from Python with the official MCP SDK. Needs SCAIGRID_HOST,
# SCAIGRID_API_KEY and meeting.wav.
import asyncio
import base64
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

URL = f"{os.environ['SCAIGRID_HOST']}/v1/modules/scaiecho/mcp"
HEADERS = {"Authorization": f"Bearer {os.environ['SCAIGRID_API_KEY']}"}


async def main() -> None:
    with open("meeting.wav", "rb") as f:
        audio = base64.b64encode(f.read()).decode()
    async with (
        httpx2.AsyncClient(headers=HEADERS, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(URL, http_client=http)) as client,
    ):
        result = await client.call_tool(
            "transcribe", {"audio_base64": audio, "filename": "meeting.wav", "language_hint": "en"}
        )
        if result.is_error:
            raise SystemExit(result.content[0].text)  # e.g. "BUDGET_EXHAUSTED: ..."
        data = result.structured_content
        while data["status"] not in {"completed", "failed", "cancelled"}:  # long audio: a job
            await asyncio.sleep(2)
            polled = await client.call_tool("get_transcription_job", {"job_id": data["job_id"]})
            data = polled.structured_content
        print(data["transcript"])


asyncio.run(main())
