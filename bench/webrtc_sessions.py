"""WebRTC next to WebSocket: final latency for N concurrent live sessions at real-time pace.

    .venv/bin/python bench/webrtc_sessions.py [--sessions 1 4] [--rounds 3] [--nice 10] [--model tiny.en]
        [--peers processes|loop]

Serves the stub host (embedded default, loopback ICE) as a real process. For each N, first N
WebSocket clients (tests/support/ws.py, 20 ms PCM16 frames paced in real time), then N
aiortc peers (tests/support/webrtc_peer.py, the same speech as a WAV through MediaPlayer,
Opus over RTP; each in a process of its own, or with ``--peers loop`` all on one event loop),
each pushing four LibriVox sentences with 1 s pauses (about 30 s). In both
the sessions' audio starts at the same offsets (0, 0.37, 0.74, 0.11 s after the round's
start), once every client is connected: a WebRTC peer's ICE and DTLS take a varying 0.2-0.3 s,
and starting each peer's audio when it connected bunched the peers' sentence ends together
(more finals then queue for the node at once). A final's latency is its arrival time minus
the wall time its sentence ended, a frame going out at its start on both transports; for a
WebRTC peer that is when the frame holding the sentence's end went to the RTP sender
(``SendClock``) plus the end's offset in it, so the figure includes the RTP path (Opus
encode, jitter buffer, decode, resampling) and not a client player running late on a busy
machine (the player's own clock, from its first frame, counted that lag as the server's).
Each N runs ``--rounds`` times, a WebSocket round and a WebRTC round each time (which goes
first alternates), and the finals of all rounds are pooled: at N = 1 one round has
only four finals, so its p95 is its slowest one. Beside the clients' figures, the server's own
``scaiecho_live_final_seconds`` (from the audio at a final's end arriving in the session to the
final leaving it) per transport, as a mean over the same finals: what of a gap is the server's
and what is the path before it, and the server process's CPU time per round. The clients
run at ``--nice`` (the server at 0): on one machine they would otherwise compete with the
server for its cores. Target (issue 16): WebRTC within 1.2x of WebSocket.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.db import issue_key
from tests.support.servers import free_port, stub_server
from tests.support.webrtc_peer import PeerRun, publish
from tests.support.ws import speech_samples, stream_pcm

CLIPS = ("0870", "0890", "0920", "0930")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(
    finals: list[tuple[float, float]],
    ends: list[float],
    spoken_at: Callable[[float], float | None] = lambda e: e,
) -> tuple[list[float], int]:
    """(audio end, arrival) of each final -> latency per sentence, misses. ``spoken_at``: a
    sentence end on the arrivals' clock (None: that audio never went out)."""
    out, missing = [], 0
    for spoken_end in ends:
        match = [at for end, at in finals if abs(end - spoken_end) < 1.0]
        spoken = spoken_at(spoken_end)
        if match and spoken is not None:
            out.append(match[0] - spoken)
        else:
            missing += 1
    return out, missing


def server_finals(metrics: str) -> dict[str, tuple[float, float]]:
    """transport -> (count, sum) of the server's ``scaiecho_live_final_seconds`` so far."""
    out: dict[str, list[float]] = {}
    for line in httpx.get(metrics, timeout=10).text.splitlines():
        for kind, index in (("_count{", 0), ("_sum{", 1)):
            if line.startswith("scaiecho_live_final_seconds" + kind):
                transport = line.split('transport="')[1].split('"')[0]
                out.setdefault(transport, [0.0, 0.0])[index] = float(line.rsplit(" ", 1)[1])
    return {transport: (count, total) for transport, (count, total) in out.items()}


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def offset(index: int) -> float:
    """When session ``index``'s audio starts, after the round's first: spread within a second."""
    return index * 0.37 % 1.0


def websocket_round(api: str, key: str, samples, ends: list[float], n: int) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    results: list = [None] * n
    zero = time.time() + 1.0  # every client connected by then

    def one(index: int) -> None:
        results[index] = stream_pcm(api, key, samples, realtime=True, start_at=zero + offset(index))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    all_lat, missing = [], 0
    for result in results:
        finals = [
            (f.data["end"], f.at)
            for f in result.frames
            if f.data.get("type") == "delta" and f.data["is_final"]
        ]
        lat, miss = latencies(finals, ends)
        all_lat += lat
        missing += miss
    return all_lat, missing


def publish_in_process(api: str, key: str, wav: Path, start_at: float) -> PeerRun:
    """One peer on an event loop of its own (run in a worker process)."""
    return asyncio.run(publish(api, key, wav, language_hint="en", start_at=start_at))


def webrtc_round(
    api: str, key: str, wav: Path, ends: list[float], n: int, pool: ProcessPoolExecutor | None
) -> tuple[list[float], int]:
    zero = time.time() + 2.0  # every peer's ICE and DTLS done by then (loopback: well under 1 s)

    async def all_of():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            *(publish(api, key, wav, language_hint="en", start_at=zero + offset(i)) for i in range(n))
        )

    if pool is None:
        runs = asyncio.run(all_of())
    else:
        futures = [pool.submit(publish_in_process, api, key, wav, zero + offset(i)) for i in range(n)]
        runs = [future.result() for future in futures]
    all_lat, missing = [], 0
    for index, run in enumerate(runs):
        assert run.status == 201, run.body
        assert run.sent, "no frame went to the sender"
        late = run.sent[0][2] - (zero + offset(index))
        if late > 0.05:  # its audio started later than the others' pattern: say so
            print(f"WebRTC peer {index}: audio started {late:.2f} s late", file=sys.stderr)
        finals = [(f["end"], at) for f, at in zip(run.frames, run.arrivals, strict=True)
                  if f.get("type") == "delta" and f["is_final"]]  # fmt: skip
        lat, miss = latencies(finals, ends, run.sent_at)
        all_lat += lat
        missing += miss
    return all_lat, missing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per N, interleaved, finals pooled")
    parser.add_argument("--nice", type=int, default=10, help="the clients' niceness (the server's is 0)")
    parser.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    parser.add_argument(
        "--peers",
        default="processes",
        choices=["processes", "loop"],
        help="each aiortc peer in a process of its own (as browsers on their own machines), "
        "or all of them on one event loop",
    )
    args = parser.parse_args()
    samples, ends = speech_samples(*CLIPS, gap_seconds=1.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        with wave.open(str(wav), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(samples.astype("<i2").tobytes())
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        port = free_port()
        metrics = f"http://127.0.0.1:{port}/metrics"
        extra = {"SCAIECHO_STT_MODEL": args.model, "SCAIECHO_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
                 "SCAIGRID_METRICS_PORT": str(port)}  # fmt: skip
        with stub_server(db_url, Path(tmp), extra) as server:
            # The clients yield the CPU to the server, as clients on their own machines would:
            # four aiortc peers (Opus encoding, SRTP in Python) otherwise take it from the
            # server's decodes on these two cores, which the WebSocket clients barely do.
            os.nice(args.nice)
            key = str(issue_key(db_url, ["scaiecho:transcribe"]).key)
            for n in args.sessions:
                pool = None
                if args.peers == "processes":
                    # Spawned (not forked: this process has threads); started and warmed before
                    # the rounds, so a round's peers do not wait for imports.
                    pool = ProcessPoolExecutor(n, mp_context=get_context("spawn"))
                    list(pool.map(time.sleep, [0.5] * n))
                pooled: dict[str, tuple[list[float], int]] = {"WebSocket": ([], 0), "WebRTC": ([], 0)}
                before = server_finals(metrics)
                cpu = {"WebSocket": 0.0, "WebRTC": 0.0}
                rounds: dict[str, Callable[[], tuple[list[float], int]]] = {
                    "WebSocket": lambda n=n: websocket_round(server.api, key, samples, ends, n),
                    "WebRTC": lambda n=n, pool=pool: webrtc_round(server.api, key, wav, ends, n, pool),
                }
                for index in range(args.rounds):
                    # Which transport goes first alternates, so neither always follows the other.
                    order = list(rounds.items())
                    for name, run in order[::-1] if index % 2 else order:
                        used = cpu_seconds(server.process.pid)
                        lat, missing = run()
                        cpu[name] += cpu_seconds(server.process.pid) - used
                        pooled[name] = (pooled[name][0] + lat, pooled[name][1] + missing)
                if pool is not None:
                    pool.shutdown()
                after = server_finals(metrics)
                for name, (lat, missing) in pooled.items():
                    count, total = after.get(name.lower(), (0.0, 0.0))
                    count0, total0 = before.get(name.lower(), (0.0, 0.0))
                    mean = (total - total0) / max(1.0, count - count0)
                    share = cpu[name] / args.rounds
                    rows.append(
                        (n, name, len(lat), statistics.median(lat), pct(lat, 0.95), missing, mean, share)
                    )
    print(f"\nmodel whisper-{args.model} int8; {len(CLIPS)} sentences per session, {args.rounds} rounds; "
          f"WebRTC peers: {args.peers}")  # fmt: skip
    print("| N | transport | finals | final p50 | final p95 | missed finals | WebRTC / WebSocket p50, p95 "
          "| server's mean | server's WebRTC / WebSocket | server CPU per round |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for index, (n, name, count, p50, p95, missing, mean, share) in enumerate(rows):
        ratio = server = ""
        if name == "WebRTC":
            base = rows[index - 1]
            ratio = f"{p50 / base[3]:.2f}x, {p95 / base[4]:.2f}x"
            server = f"{mean / base[6]:.2f}x"
        cells = [
            str(n),
            name,
            str(count),
            f"{p50:.2f} s",
            f"{p95:.2f} s",
            str(missing),
            ratio,
            f"{mean:.2f} s",
        ]
        print("| " + " | ".join([*cells, server, f"{share:.1f} s"]) + " |")


if __name__ == "__main__":
    main()
