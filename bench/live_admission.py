"""How fast a live session beyond the admission cap is refused (issue 13).

    .venv/bin/python bench/live_admission.py [--refusals 50]

Serves the stub host (embedded default, SQLite, tiny.en) as a real process with the caps at
2 live sessions per tenant and 3 per process; holds two open sessions of one tenant and one
of another, then times ``--refusals`` WebSocket opens beyond each cap (the tenant's, then the
server's): connect, open frame, until the ``TOO_MANY_SESSIONS`` error frame and close 4429.
Prints median, p95 and worst per cap.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.db import issue_key
from tests.support.servers import stub_server
from tests.support.ws import open_socket

OPEN = json.dumps({"type": "open", "media_type": "audio/pcm", "language_hint": "en"})
ENV = {"SCAIECHO_STT_MODEL": "tiny.en", "SCAIECHO_STREAM_MAX_SESSIONS": "3",
       "SCAIECHO_STREAM_MAX_SESSIONS_PER_TENANT": "2"}  # fmt: skip


def _refused(api: str, key: str, scope: str) -> float:
    started = time.monotonic()
    with open_socket(api, key) as ws:
        ws.send(OPEN)
        frame = json.loads(ws.recv(timeout=10))
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
    elapsed = time.monotonic() - started
    assert (frame.get("code"), frame.get("details", {}).get("scope"), code) == (
        "TOO_MANY_SESSIONS",
        scope,
        4429,
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--refusals", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        with stub_server(database_url, workdir / "stub", ENV) as server:
            first, second = (
                str(issue_key(database_url, ["scaiecho:transcribe"], f"t{i}", "b@x").key) for i in range(2)
            )
            held = []
            for key in (first, first, second):
                ws = open_socket(server.api, key)
                ws.send(OPEN)
                assert json.loads(ws.recv(timeout=30))["type"] == "ready"
                held.append(ws)
            for scope, key in (("tenant", first), ("server", second)):
                times = sorted(_refused(server.api, key, scope) for _ in range(args.refusals))
                p95 = times[int(0.95 * (len(times) - 1))]
                median = statistics.median(times) * 1000
                print(f"refused at the {scope} cap, {len(times)} opens: median {median:.1f} ms, "
                      f"p95 {p95 * 1000:.1f} ms, worst {times[-1] * 1000:.1f} ms")  # fmt: skip
            for ws in held:
                ws.close()


if __name__ == "__main__":
    main()
