"""Budgets and admission control under concurrent inline requests (issue 13).

    .venv/bin/python bench/budget_admission.py [--concurrency 10] [--rounds 3]

Serves the stub host (embedded default, tiny.en) as a real process, then:

1. Budget: a tenant with a 60 s budget sends ``--concurrency`` 20 s files at once (real
   speech), ``--rounds`` times with a fresh tenant each round. Reports how many ran, the usage
   metered and the overspend against the budget (target: at most one request's worth, 20 s).
2. Admission: ``--concurrency`` 20 s files at once from one tenant, then from as many tenants,
   under the default caps (4 per tenant, 8 per process). Reports the answers (200 / 429 /
   503), the Retry-After seen and the median and worst latency of the served ones.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host_stub.accounting import set_budget
from host_stub.db import StubDatabase
from tests.e2e.test_budget_holds import speech_file
from tests.support import recordings
from tests.support.db import issue_key, run_db, usage_rows
from tests.support.servers import stub_server

UNIT = "scaiecho.audio_seconds"


def _tenant(database_url: str, budget: float | None) -> tuple[str, str]:
    issued = issue_key(database_url, ["scaiecho:transcribe"], f"b-{uuid.uuid4().hex[:8]}", "b@x")
    if budget is not None:

        async def work(db: StubDatabase) -> None:
            async with db.session_factory.begin() as session:
                await set_budget(session, issued.tenant_id, UNIT, budget)

        run_db(database_url, work)
    return str(issued.key), str(issued.tenant_id)


def _post(api: str, key: str, clip: Path) -> tuple[int, float, str | None]:
    started = time.monotonic()
    with clip.open("rb") as handle:
        resp = httpx.post(
            f"{api}/transcribe",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": (clip.name, handle, "audio/wav")},
            timeout=600,
        )
    return resp.status_code, time.monotonic() - started, resp.headers.get("retry-after")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    recordings.ensure_recordings()
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        clip = speech_file(20.0, workdir / "twenty.wav")
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        with stub_server(database_url, workdir / "stub", {"SCAIECHO_STT_MODEL": "tiny.en"}) as server:
            n = args.concurrency
            print(f"budget: {n} concurrent 20 s files against a 60 s budget")
            for round_ in range(args.rounds):
                key, tenant = _tenant(database_url, 60.0)
                with ThreadPoolExecutor(n) as pool:
                    answers = list(pool.map(_post, [server.api] * n, [key] * n, [clip] * n))
                spent = sum(row.quantity for row in usage_rows(database_url, tenant))
                codes = sorted(code for code, _, _ in answers)
                print(
                    f"  round {round_ + 1}: answers {codes}, metered {spent:.1f} s, "
                    f"overspend {max(spent - 60.0, 0.0):.1f} s"
                )
            for label, tenants in (("one tenant", 1), (f"{n} tenants", n)):
                keys = [_tenant(database_url, None)[0] for _ in range(tenants)]
                with ThreadPoolExecutor(n) as pool:
                    senders = [keys[i % tenants] for i in range(n)]
                    answers = list(pool.map(_post, [server.api] * n, senders, [clip] * n))
                served = [seconds for code, seconds, _ in answers if code == 200]
                counts = {
                    code: sum(1 for c, _, _ in answers if c == code)
                    for code in sorted({c for c, _, _ in answers})
                }
                retry = sorted({r for _, _, r in answers if r})
                latency = (
                    f"median {statistics.median(served):.1f} s, worst {max(served):.1f} s"
                    if served
                    else "none served"
                )
                print(
                    f"admission, {n} concurrent from {label}: {counts}, Retry-After {retry}, served {latency}"
                )


if __name__ == "__main__":
    main()
