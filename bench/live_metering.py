"""Metering and audit at load: N concurrent real-time live sessions, each checked exactly.

    .venv/bin/python bench/live_metering.py [--sessions 40] [--seconds 15] [--database sqlite|URL]

Serves the stub host (embedded default, admission caps raised to N) as a real process. N
WebSocket clients of one tenant each push the same real speech (LibriVox sentences cut to
``--seconds``) as 20 ms PCM16 frames at real-time pace, then ``close``. Afterwards, for each
session: the `closed` frame's audio_seconds, its `scaiecho.stream.close` audit rows and its
usage rows (reference `scaiecho:stream:<id>`) are read back. Targets (issue 13): every
session has exactly one close audit and one usage row, and usage == audit == closed frame ==
audio sent. Not a timed test: wall time and drain time are reported, not asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.db import audit_rows, issue_key, usage_rows
from tests.support.servers import stub_server
from tests.support.ws import StreamResult, speech_samples, stream_pcm


def run(api: str, database_url: str, sessions: int, seconds: float) -> int:
    issued = issue_key(database_url, ["scaiecho:transcribe"])
    samples, _ = speech_samples("0870", "0890", "0920", "0930", gap_seconds=1.0)
    samples = samples[: int(seconds * 16000)]
    sent = len(samples) / 16000
    results: list[StreamResult | None] = [None] * sessions

    def one(index: int) -> None:
        time.sleep(index * 0.37 % 1.0)  # staggered starts, as real callers are
        results[index] = stream_pcm(api, issued.key, samples, realtime=True)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - t0
    opened = [r.of("ready")[0]["session_id"] for r in results if r is not None and r.of("ready")]
    # Sessions whose client gave up (no frame for 120 s on an overloaded machine) end on the
    # server later, as client_gone: wait for every session's close audit before checking.
    deadline = time.monotonic() + 600
    while True:
        rows = audit_rows(database_url, str(issued.tenant_id))
        closes = [r for r in rows if r.action == "scaiecho.stream.close"]
        if len(closes) >= len(opened) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    drained = time.monotonic() - t0
    bad, codes, errors = 0, [], set()
    for result in results:
        assert result is not None
        codes.append(result.close_code)
        if result.error_code:
            errors.add(result.error_code)
        if not result.of("ready"):
            bad += 1
            continue
        sid = result.of("ready")[0]["session_id"]
        audits = [c for c in closes if c.target == sid]
        usage = usage_rows(database_url, str(issued.tenant_id), f"scaiecho:stream:{sid}")
        exact = len(audits) == 1 and len(usage) == 1
        exact = exact and abs(usage[0].quantity - audits[0].details["audio_seconds"]) < 0.001
        closed = result.of("closed")
        if exact and closed:  # ended normally: everything sent was processed and metered
            exact = abs(closed[0]["audio_seconds"] - sent) < 0.05 and abs(usage[0].quantity - sent) < 0.05
        if not exact:
            bad += 1
            print("inexact:", sid[:8], len(audits), [u.quantity for u in usage],
                  [a.details for a in audits], closed)  # fmt: skip
    reasons = sorted(str(c.details["reason"]) for c in closes)
    print(f"\n{sessions} sessions x {sent:.2f} s of speech, real time; last client done {wall:.1f} s, "
          f"last session ended {drained:.1f} s")  # fmt: skip
    print(f"close codes {sorted(set(codes), key=str)}; error codes {sorted(errors) or 'none'}; "
          f"close reasons { {r: reasons.count(r) for r in set(reasons)} }")  # fmt: skip
    done = sum(1 for r in results if r and r.of("closed"))
    print("| sessions | `closed` frame | close audits | one usage row == audit (== audio sent if closed) |")
    print("| --- | --- | --- | --- |")
    print(f"| {sessions} | {done} | {len(closes)} | {sessions - bad} |")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL asyncpg URL")
    args = parser.parse_args()
    caps = {
        "SCAIECHO_STREAM_MAX_SESSIONS": str(args.sessions),
        "SCAIECHO_STREAM_MAX_SESSIONS_PER_TENANT": str(args.sessions),
    }
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db" if args.database == "sqlite" else args.database
        with stub_server(db_url, Path(tmp), caps) as server:
            bad = run(server.api, db_url, args.sessions, args.seconds)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
