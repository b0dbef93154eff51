"""Long audio through the queued-job path vs a direct engine call, with the worker's peak RSS.

    .venv/bin/python bench/transcribe_jobs.py [--model base] [--minutes 30 60]

For each length: a fresh stub host on the embedded default (SQLite, in-process worker, local
blobs) takes the file as a job; the script polls until it completes and reads the serving
process's peak RSS (VmHWM: the in-process worker is that process). Then the same audio goes
through one direct ``WhisperEngine.transcribe`` call in this process. Targets (issue 3): peak
RSS at 60 min within 15 % of 30 min; job throughput within 10 % of the direct call.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.engines.weights import SttModelSettings
from scaiecho_module.runtime import load_engine
from tests.support import recordings
from tests.support.db import issue_key
from tests.support.servers import stub_server

ROUND_SECONDS = 60.7  # one pass over the LibriVox sentences and the conversation


def _key(database_url: str) -> str:
    return str(issue_key(database_url, ["scaiecho:transcribe"]).key)


def _vm(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def run_job(path: Path, model: str, beam: int) -> tuple[float, float, float, float]:
    """Returns (audio seconds, wall seconds, RSS after startup MiB, peak RSS MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        extra = {"SCAIECHO_STT_MODEL": model, "SCAIECHO_STT_BEAM_SIZE": str(beam)}
        with stub_server(db_url, Path(tmp), extra) as server:
            pid = server.process.pid
            idle = _vm(pid, "VmRSS")
            client = httpx.Client(
                base_url=server.api, headers={"Authorization": f"Bearer {_key(db_url)}"}, timeout=600
            )
            started = time.perf_counter()
            with path.open("rb") as handle:
                resp = client.post(
                    "/transcribe",
                    files={"file": (path.name, handle, "audio/wav")},
                    data={"language_hint": "en"},
                )
            resp.raise_for_status()
            job_id = resp.json()["data"]["job_id"]
            while True:
                job = client.get(f"/transcribe/jobs/{job_id}").json()["data"]
                if job["status"] in {"completed", "failed", "cancelled"}:
                    break
                time.sleep(1)
            wall = time.perf_counter() - started
            assert job["status"] == "completed", job
            return float(job["duration_seconds"]), wall, idle, _vm(pid, "VmHWM")


def long_file(minutes: int) -> Path:
    rounds = round(minutes * 60 / ROUND_SECONDS)
    path, _ = recordings.long_speech(rounds)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="base", choices=["base", "tiny.en"])
    parser.add_argument("--minutes", type=int, nargs="+", default=[30, 60])
    args = parser.parse_args()
    beam = 5 if args.model == "base" else 1
    engine = load_engine(ScaiEchoSettings(stt=SttModelSettings(name=args.model, beam_size=beam)))
    engine.transcribe(np.zeros(16000, dtype=np.float32), "en")
    rows = []
    for minutes in args.minutes:
        path = long_file(minutes)
        seconds, wall, idle, peak = run_job(path, args.model, beam)
        with path.open("rb") as handle:
            audio = decode_file(handle)
        started = time.perf_counter()
        engine.transcribe(audio, "en")
        direct = time.perf_counter() - started
        del audio
        rows.append((minutes, seconds, wall, direct, idle, peak))
        print(f"{minutes} min done", flush=True)
    print(f"\nmodel whisper-{args.model} int8, beam {beam}; job windows 120 s (default)")
    print("| audio | job wall | job RTF | direct RTF | job/direct | worker RSS idle | worker peak |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for _, seconds, wall, direct, idle, peak in rows:
        print(
            f"| {seconds / 60:.1f} min | {wall:.0f} s | {seconds / wall:.1f}x | {seconds / direct:.1f}x "
            f"| {direct / wall:.3f} | {idle:.0f} MiB | {peak:.0f} MiB |"
        )
    if len(rows) >= 2:
        print(f"\npeak RSS {rows[-1][0]} min / {rows[0][0]} min: {rows[-1][5] / rows[0][5]:.3f}")


if __name__ == "__main__":
    main()
