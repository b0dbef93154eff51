# Quickstart step 2 with httpx, verbatim. Needs SCAIGRID_HOST, SCAIGRID_API_KEY and meeting.wav.
import os

import httpx

with open("meeting.wav", "rb") as f:
    resp = httpx.post(
        f"{os.environ['SCAIGRID_HOST']}/v1/modules/scaiecho/transcribe",
        headers={"Authorization": f"Bearer {os.environ['SCAIGRID_API_KEY']}"},
        files={"file": ("meeting.wav", f, "audio/wav")},
        data={"language_hint": "en", "backend_preference": "any"},
        timeout=120.0,
    )
print(resp.json()["data"]["transcript"])
