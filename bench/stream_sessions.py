"""Concurrent live sessions at real-time pace: final latency, first-partial latency, CPU, RSS.

    .venv/bin/python bench/stream_sessions.py [--sessions 1 4 16] [--model tiny.en] [--with-job]
        [--speculative on|off|both] [--window 10 30] [--short-slice 30 10]

Serves the stub host (embedded default) as a real process. For each N, N WebSocket clients
each push the same real speech (four LibriVox sentences, 1 s pauses, about 30 s) as 20 ms
PCM16 frames at real-time pace, starting a little apart. For every final delta the latency is
its arrival time minus the wall time at which its sentence ended; first-partial latency is
measured from the start of speech. A session "falls behind" if its `closed` frame arrives
more than 2 s after its last audio frame was sent. Finals are counted against the
sentences sent (expected) and the `info` frames each session saw are tallied (`BEHIND`:
the server told the client it lags real time).

``--with-job``: each N runs twice, idle and then with one long queued job running on the
same node (submitted through the API as bench/fairness.py does, 16 passes over the long
speech, about 16 minutes of audio), and the final p95 ratio job / idle is printed.
``--short-slice``: SCAIECHO_JOB_SHORT_SLICE_SECONDS, one served host per value (30: the job
always slices at 30 s, the behaviour before short slices; 10: the default).

Targets (issue 19, 2-core machine, tiny.en): final p95 <= 1.0 s and first partial p50
<= 1.0 s at N = 4 with none behind; at N = 16 every final arrives and `BEHIND` tells the
client; live final p95 with a job running <= 1.5x idle.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import recordings
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


@contextmanager
def job_running(api: str, key: str, rounds: int = 16) -> Iterator[httpx.Client]:
    """A long queued job, running on the node while the block runs; cancelled after it."""
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=600)
    path, _ = recordings.long_speech(rounds)
    with path.open("rb") as handle:
        resp = client.post("/transcribe", files={"file": (path.name, handle, "audio/wav")},
                           data={"language_hint": "en"})  # fmt: skip
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["data"]["job_id"]

    def status() -> str:
        return str(client.get(f"/transcribe/jobs/{job_id}").json()["data"]["status"])

    while status() != "running":
        time.sleep(0.2)
    time.sleep(1.0)  # the first window is cut and on the engine
    try:
        yield client
    finally:
        still = status()
        client.delete(f"/transcribe/jobs/{job_id}")
        print(f"job was {still} at the end of the live round", flush=True)


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
    received, told, infos = 0, 0, collections.Counter[str]()
    for result in results:
        codes = [f.data["code"] for f in result.frames if f.data.get("type") == "info"]
        infos.update(codes)
        told += "BEHIND" in codes
        got = [f for f in result.frames if f.data.get("type") == "delta" and f.data["is_final"]]
        received += len(got)
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
    return {  # type: ignore[return-value]
        "sessions": sessions,
        "final_p50": statistics.median(finals) if finals else float("nan"),
        "final_p95": pct(finals, 0.95) if finals else float("nan"),
        "first_partial_p50": statistics.median(firsts) if firsts else float("nan"),
        "behind": behind,
        "missing_finals": missing,
        "expected": len(ends) * sessions,
        "received": received,
        "told_behind": told,
        "infos": ", ".join(f"{code} x{n}" for code, n in sorted(infos.items())) or "none",
        "cpu_cores": cpu / wall,
        "rss_peak": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    parser.add_argument("--with-job", action="store_true", help="each N also with a long job running")
    # SCAIECHO_STREAM_SPECULATIVE_FINALS; both: off, then on, one served host each, in one run.
    parser.add_argument("--speculative", choices=["on", "off", "both"], default="on")
    # SCAIECHO_STREAM_WINDOW_SECONDS, one served host per value (30: Whisper's full window).
    parser.add_argument("--window", type=float, nargs="+", default=[10.0])
    # SCAIECHO_JOB_SHORT_SLICE_SECONDS, one served host per value (30: never shorter slices).
    parser.add_argument("--short-slice", type=float, nargs="+", default=[10.0])
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = []
    for spec in ("off", "on") if args.speculative == "both" else (args.speculative,):
        for window in args.window:
            for short in args.short_slice:
                rows += serve_rounds(args, spec, window, short)
    print(f"\nmodel whisper-{args.model} int8")
    print("| speculative | window | job short slice | load | N | final p50 | final p95 "
          "| 1st partial p50 | behind | finals recv/expected | told BEHIND | info frames "
          "| server CPU | peak RSS |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, r in rows:
        config, load = label.split("/")
        spec, window, short = config.split(",")
        print(
            f"| {spec} | {window} s | {short} s | {load} | {r['sessions']:.0f} | "
            f"{r['final_p50']:.2f} s | {r['final_p95']:.2f} s | "
            f"{r['first_partial_p50']:.2f} s | {r['behind']:.0f} | {r['received']:.0f}/{r['expected']:.0f} "
            f"({r['missing_finals']:.0f} missed) | {r['told_behind']:.0f} | {r['infos']} | "
            f"{100 * r['cpu_cores']:.0f} % of a core | {r['rss_peak']:.0f} MiB |"
        )
    idle = {(label.split("/")[0], r["sessions"]): r for label, r in rows if label.endswith("/idle")}
    for label, r in rows:
        if label.endswith("/job"):
            base = idle[(label.split("/")[0], r["sessions"])]["final_p95"]
            print(f"speculative, window, short slice {label.split('/')[0]}, N = {r['sessions']:.0f}: "
                  f"final p95 with a job / idle = {r['final_p95'] / base:.2f}x")  # fmt: skip


def serve_rounds(
    args: argparse.Namespace, spec: str, window: float, short: float
) -> list[tuple[str, dict[str, float]]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        # One tenant opens every session: the admission caps (8 per tenant) must not refuse any.
        cap = str(max(args.sessions))
        extra = {"SCAIECHO_STT_MODEL": args.model, "SCAIECHO_STREAM_MAX_SESSIONS": cap,
                 "SCAIECHO_STREAM_MAX_SESSIONS_PER_TENANT": cap,
                 "SCAIECHO_STREAM_SPECULATIVE_FINALS": "true" if spec == "on" else "false",
                 "SCAIECHO_STREAM_WINDOW_SECONDS": f"{window:g}",
                 "SCAIECHO_JOB_SHORT_SLICE_SECONDS": f"{short:g}"}  # fmt: skip
        if args.with_job:
            extra["SCAIECHO_INLINE_MAX_BYTES"] = str(2 * 1024 * 1024)  # the job's file goes queued
        with stub_server(db_url, Path(tmp), extra) as server:
            key = _key(db_url)
            pid = server.process.pid
            config = f"{spec},{window:g},{short:g}"
            for n in args.sessions:
                rows.append((f"{config}/idle", run_round(server.api, key, pid, n)))
                print(f"{config}: N = {n} idle done", flush=True)
                if args.with_job:
                    with job_running(server.api, key):
                        rows.append((f"{config}/job", run_round(server.api, key, pid, n)))
                    print(f"{config}: N = {n} with a job done", flush=True)
    return rows


if __name__ == "__main__":
    main()
