"""Backend A on a Triton node vs the in-process node: hop overhead and concurrent throughput.

    .venv/bin/python bench/triton_nodes.py [--runs 5] [--concurrency 1 4 16]

Starts one real tritonserver (CPU configuration: Whisper tiny.en int8, 2 threads) from the
nvidia-pytriton wheel. Overhead: the same 30 s recording, alternately through the Triton node
(gRPC) and through the in-process engine in this process (same model and settings), medians
and their ratio. Throughput: N concurrent requests of the five LibriVox sentences to the
Triton node, audio seconds transcribed per wall second (median of --runs rounds), once against
the shipped configuration (dynamic batching, batched decode) and once against a copy with
``batching=false`` (the same dynamic batcher, requests decoded one after another).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.backends.triton_node import TritonNode
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.engines.weights import SttModelSettings
from scaiecho_module.runtime import load_engine
from tests.support import recordings
from tests.support.servers import ROOT
from tests.support.triton import CPU_MODEL, triton_server


def unbatched_repository(target: Path) -> Path:
    shutil.copytree(ROOT / "triton_models", target, ignore=shutil.ignore_patterns("__pycache__"))
    config = target / CPU_MODEL / "config.pbtxt"
    config.write_text(
        config.read_text() + 'parameters: { key: "batching", value: { string_value: "false" } }\n'
    )
    return target


async def throughput(url: str, label: str, levels: list[int], rounds: int) -> None:
    node = TritonNode("bench", url, CPU_MODEL)
    assert await node.check()
    clips = []
    for clip in recordings.all_librivox():
        with clip.wav.open("rb") as handle:
            clips.append(decode_file(handle))
    await node.transcribe(clips[0], "en")  # warm-up
    for n in levels:
        batch = [clips[i % len(clips)] for i in range(n)]
        walls = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            await asyncio.gather(*(node.transcribe(audio, "en") for audio in batch))
            walls.append(time.perf_counter() - t0)
        wall = statistics.median(walls)
        audio_seconds = sum(len(a) for a in batch) / 16000
        print(f"| {label} | {n} | {wall:.2f} s | {audio_seconds / wall:.1f} |")
    await node.close()


async def measure(url: str, runs: int) -> None:
    node = TritonNode("bench", url, CPU_MODEL)
    assert await node.check()
    engine = load_engine(ScaiEchoSettings(stt=SttModelSettings(name="tiny.en", beam_size=1, cpu_threads=2)))
    with recordings.conversation().open("rb") as handle:
        long_audio = decode_file(handle)
    await node.transcribe(long_audio, "en")  # warm-ups
    engine.transcribe(long_audio, "en")
    remote, local = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        a = await node.transcribe(long_audio, "en")
        remote.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = engine.transcribe(long_audio, "en")
        local.append(time.perf_counter() - t0)
    seconds = len(long_audio) / 16000
    r, l_ = statistics.median(remote), statistics.median(local)
    print(
        f"30 s recording, {runs} runs: Triton node {r:.2f} s ({seconds / r:.1f}x), in-process {l_:.2f} s "
        f"({seconds / l_:.1f}x); Triton / in-process time {r / l_:.3f}; same text: {a.text == b.text}"
    )
    await node.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with triton_server(Path(tmp) / "batched") as server:
            asyncio.run(measure(server.grpc_url, args.runs))
            print("| decode | concurrent requests | wall | audio s per wall s |")
            print("| --- | --- | --- | --- |")
            asyncio.run(throughput(server.grpc_url, "batched", args.concurrency, args.runs))
        repository = unbatched_repository(Path(tmp) / "repository")
        with triton_server(Path(tmp) / "unbatched", repository) as server:
            asyncio.run(throughput(server.grpc_url, "one by one", args.concurrency, args.runs))


if __name__ == "__main__":
    main()
