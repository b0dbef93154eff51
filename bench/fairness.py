"""Head-of-line blocking: an inline request with a long job running, before and after slicing.

    .venv/bin/python bench/fairness.py [--model tiny.en] [--runs 3] [--rounds 8]

For each setting of SCAIECHO_JOB_SLICE_SECONDS / SCAIECHO_JOB_SHORT_SLICE_SECONDS (120/120,
equal to the job window: no slicing, the old behaviour; 30/30: 30 s slices always, the
behaviour before short slices; 30/10, the default: 10 s slices while interactive work is
near) a fresh stub host (SQLite, in-process node and
worker) is served as a real process. An inline ``POST /transcribe`` of 40 s of real speech
(the long job speech's first 40 s: LibriVox sentences and the conversation) is timed
``--runs`` times idle; then a job of ``--rounds`` passes over the same recordings (about
61 s each) is submitted, and once it is running the inline request is timed ``--runs`` times
more, each counted only if the job was still running when it ended. The job's own wall time
(submit to completed, inline requests included alike) and its WER against the reference
are printed too. Target (issue 19): inline with a job running <= 2x idle, no WER lost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import recordings
from tests.support.db import issue_key
from tests.support.servers import stub_server
from tests.support.text import wer

INLINE_SECONDS = 40


def inline_file(directory: Path) -> Path:
    path, _ = recordings.long_speech(1)
    pcm = recordings.read_pcm(path)[: INLINE_SECONDS * 16000]
    return recordings.write_audio(pcm, directory / "inline.wav", "wav", "pcm_s16le")


def post(client: httpx.Client, path: Path) -> httpx.Response:
    with path.open("rb") as handle:
        return client.post(
            "/transcribe", files={"file": (path.name, handle, "audio/wav")}, data={"language_hint": "en"}
        )


def timed_inline(client: httpx.Client, path: Path) -> float:
    started = time.perf_counter()
    resp = post(client, path)
    assert resp.status_code == 200, resp.text
    return time.perf_counter() - started


def run(slice_seconds: int, short_seconds: int, model: str, runs: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        extra = {
            "SCAIECHO_STT_MODEL": model,
            "SCAIECHO_STT_BEAM_SIZE": "5" if model == "base" else "1",
            "SCAIECHO_JOB_SLICE_SECONDS": str(slice_seconds),
            "SCAIECHO_JOB_SHORT_SLICE_SECONDS": str(short_seconds),
            "SCAIECHO_INLINE_MAX_BYTES": str(2 * 1024 * 1024),  # the job's file goes queued
        }
        with stub_server(db_url, Path(tmp), extra) as server:
            key = str(issue_key(db_url, ["scaiecho:transcribe"]).key)
            client = httpx.Client(
                base_url=server.api, headers={"Authorization": f"Bearer {key}"}, timeout=900
            )
            short = inline_file(Path(tmp))
            timed_inline(client, short)  # warm-up: first-request costs are not the figure
            idle = [timed_inline(client, short) for _ in range(runs)]
            long_path, _ = recordings.long_speech(rounds)
            submitted = time.perf_counter()
            resp = post(client, long_path)
            assert resp.status_code == 202, resp.text
            job_id = resp.json()["data"]["job_id"]

            def status() -> dict[str, object]:
                data: dict[str, object] = client.get(f"/transcribe/jobs/{job_id}").json()["data"]
                return data

            while status()["status"] != "running":
                time.sleep(0.2)
            time.sleep(1.0)  # the first window is cut and on the engine
            busy: list[float] = []
            for _ in range(runs):
                took = timed_inline(client, short)
                if status()["status"] == "running":
                    busy.append(took)
            while (job := status())["status"] not in {"completed", "failed", "cancelled"}:
                time.sleep(0.5)
            job_wall = time.perf_counter() - submitted
            assert job["status"] == "completed", job
            job_wer = wer(recordings.long_speech_text(rounds), str(job["transcript"]))
            return {
                "idle": statistics.median(idle),
                "busy": statistics.median(busy) if busy else float("nan"),
                "busy_n": len(busy),
                "busy_max": max(busy, default=float("nan")),
                "job_wall": job_wall,
                "job_audio": float(str(job["duration_seconds"])),
                "job_wer": job_wer,
            }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny.en", choices=["base", "tiny.en"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    rows = []
    for slice_seconds, short_seconds in ((120, 120), (30, 30), (30, 10)):
        result = run(slice_seconds, short_seconds, args.model, args.runs, args.rounds)
        rows.append((f"{slice_seconds} s / {short_seconds} s", result))
        print(f"slice {slice_seconds} s / short {short_seconds} s done", flush=True)
    print(f"\nmodel whisper-{args.model}; job windows 120 s; inline {INLINE_SECONDS} s of real speech")
    print(
        "| job slice / short slice | inline idle (median) | inline, job running (median, max) | ratio "
        "| job wall | job audio | job WER |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, r in rows:
        print(
            f"| {label} | {r['idle']:.2f} s | {r['busy']:.2f} s, {r['busy_max']:.2f} s "
            f"(n = {r['busy_n']:.0f}) | {r['busy'] / r['idle']:.2f}x | {r['job_wall']:.0f} s "
            f"| {r['job_audio']:.0f} s | {r['job_wer']:.3f} |"
        )


if __name__ == "__main__":
    main()
