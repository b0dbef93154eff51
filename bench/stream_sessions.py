"""Concurrent live sessions at real-time pace: final latency, first-partial latency, CPU, RSS.

    .venv/bin/python bench/stream_sessions.py [--sessions 1 4 16] [--model tiny.en]

Serves the stub host (embedded default) as a real process. For each N, N WebSocket clients
each push the same real speech (four LibriVox sentences, 1 s pauses, about 30 s) as 20 ms
PCM16 frames at real-time pace, starting a little apart. For every final delta the latency is
its arrival time minus the wall time at which its sentence ended; first-partial latency is
measured from the start of speech. A session "falls behind" if its `closed` frame arrives
more than 2 s after its last audio frame was sent. Targets (issue 4, 2-core machine,
tiny.en): p95 final latency < 1.5 s at N = 4, and no session behind at N = 4.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.db import issue_key
from tests.support.servers import stub_server
from tests.support.ws import speech_samples, stream_pcm

CLIPS = ("0870", "0890", "0920", "0930")


def _key(database_url: str) -> str:
    return str(issue_key(database_url, ["scaiecho:transcribe"]).key)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


def _rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_round(api: str, key: str, pid: int, sessions: int) -> dict[str, float]:
    samples, ends = speech_samples(*CLIPS, gap_seconds=1.0)
    audio_seconds = len(samples) / 16000
    results: list = [None] * sessions

    def one(index: int) -> None:
        time.sleep(index * 0.37 % 1.0)  # staggered starts, as real callers are
        results[index] = stream_pcm(api, key, samples, realtime=True)

    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    peak = 0.0
    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _rss_mib(pid))
        time.sleep(0.2)
    wall, cpu = time.monotonic() - t0, _cpu_seconds(pid) - cpu0
    finals, firsts, behind, missing = [], [], 0, 0
    for result in results:
        got = [f for f in result.frames if f.data.get("type") == "delta" and f.data["is_final"]]
        for spoken_end in ends:
            match = [f for f in got if abs(f.data["end"] - spoken_end) < 1.0]
            if match:
                finals.append(match[0].at - spoken_end)
            else:
                missing += 1
        partial = next(
            (f for f in result.frames if f.data.get("type") == "delta" and not f.data["is_final"]), None
        )
        if partial is not None:
            firsts.append(partial.at)
        closed = [f for f in result.frames if f.data.get("type") == "closed"]
        if not closed or closed[0].at - audio_seconds > 2.0:
            behind += 1
    return {
        "sessions": sessions,
        "final_p50": statistics.median(finals) if finals else float("nan"),
        "final_p95": pct(finals, 0.95) if finals else float("nan"),
        "first_partial_p50": statistics.median(firsts) if firsts else float("nan"),
        "behind": behind,
        "missing_finals": missing,
        "cpu_cores": cpu / wall,
        "rss_peak": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        extra = {"SCAIECHO_STT_MODEL": args.model}
        with stub_server(db_url, Path(tmp), extra) as server:
            key = _key(db_url)
            pid = server.process.pid
            idle_rss = _rss_mib(pid)
            rows = [run_round(server.api, key, pid, n) for n in args.sessions]
    print(f"\nmodel whisper-{args.model} int8; server RSS idle {idle_rss:.0f} MiB")
    print("| N | final p50 | final p95 | 1st partial p50 | behind | missed finals | server CPU | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['sessions']:.0f} | {r['final_p50']:.2f} s | {r['final_p95']:.2f} s | "
            f"{r['first_partial_p50']:.2f} s | {r['behind']:.0f} | {r['missing_finals']:.0f} | "
            f"{100 * r['cpu_cores']:.0f} % of a core | {r['rss_peak']:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
