"""Backend B's relay hop: the same audio through a relay vs the same engine in process.

    .venv/bin/python bench/relay_hop.py [--runs 5]

Starts the test peers (``tests/support/riva_server.py``: Riva ASR over gRPC;
``tests/support/openai_server.py``: OpenAI-compatible HTTP), both running Whisper tiny.en
int8, beam 1, 2 threads, as the in-process engine here does. Then the 30 s telephone
recording goes, in turn, through ``RelayBackend`` on each peer and through the engine in
this process, ``--runs`` times after a warm-up; medians and ratios. What the ratio measures
is everything the relay adds: PCM16 or WAV encoding, gRPC or multipart HTTP, the peer's
decoding of the request, and the mapping back onto segments.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.backends.relay import build_relay
from scaiecho_module.backends.relay.settings import RelaySettings, Secret
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.engines.weights import SttModelSettings
from scaiecho_module.runtime import load_engine
from tests.support import recordings
from tests.support.servers import ROOT, _wait_port, free_port

KEY = "bench-key"


def start(module: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", module, "--port", str(port), "--api-key", KEY, "--threads", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, process, timeout=60)
    return process


async def measure(relays: dict[str, RelaySettings], runs: int) -> None:
    engine = load_engine(ScaiEchoSettings(stt=SttModelSettings(name="tiny.en", beam_size=1, cpu_threads=2)))
    with recordings.conversation().open("rb") as handle:
        audio = decode_file(handle)
    backends = {name: build_relay(settings) for name, settings in relays.items()}
    texts = {"in-process": engine.transcribe(audio, "en").text}
    for name, backend in backends.items():
        texts[name] = (await backend.transcribe(audio, "en")).transcript.text  # warm-up
    times: dict[str, list[float]] = {name: [] for name in texts}
    for _ in range(runs):
        for name in texts:
            started = time.perf_counter()
            if name == "in-process":
                engine.transcribe(audio, "en")
            else:
                await backends[name].transcribe(audio, "en")
            times[name].append(time.perf_counter() - started)
    seconds = len(audio) / 16000
    local = statistics.median(times["in-process"])
    print("| path | median | real-time factor | relay / in-process | same text |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        same = texts[name] == texts["in-process"]
        print(f"| {name} | {median:.2f} s | {seconds / median:.1f}x | {median / local:.3f} | {same} |")
    for backend in backends.values():
        await backend.client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    riva_port, openai_port = free_port(), free_port()
    peers = [
        start("tests.support.riva_server", riva_port),
        start("tests.support.openai_server", openai_port),
    ]
    relays = {
        "Riva relay (gRPC)": RelaySettings(
            "riva", "riva", f"127.0.0.1:{riva_port}", api_key=Secret(KEY), function_id="asr-ok"
        ),
        "OpenAI-compatible relay (HTTP)": RelaySettings(
            "oai", "openai", f"http://127.0.0.1:{openai_port}", api_key=Secret(KEY), model="whisper-1"
        ),
    }
    try:
        asyncio.run(measure(relays, args.runs))
    finally:
        for peer in peers:
            peer.kill()


if __name__ == "__main__":
    main()
