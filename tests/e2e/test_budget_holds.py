"""Budgets hold under concurrency and against lying headers: work is reserved before it runs."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import Caller, MakeCaller
from tests.support import recordings
from tests.support.db import usage_rows
from tests.support.stacks import JobStack

pytestmark = pytest.mark.both_databases

SAMPLE_RATE = 16_000


def speech_file(seconds: float, path: Path) -> Path:
    """Real speech, LibriVox sentences back to back, cut to exactly ``seconds``."""
    pieces: list[np.ndarray] = []
    while sum(len(p) for p in pieces) < seconds * SAMPLE_RATE:
        pieces += [recordings.read_pcm(clip.wav) for clip in recordings.all_librivox()]
    recordings.write_audio(np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)], path, "wav", "pcm_s16le")
    return path


def flac_claiming(seconds_real: float, claimed_samples: int, path: Path) -> Path:
    """A FLAC of silence whose STREAMINFO states ``claimed_samples`` (0: unknown length)."""
    recordings.write_audio(np.zeros(int(seconds_real * SAMPLE_RATE), dtype=np.int16), path, "flac", "flac")
    data = bytearray(path.read_bytes())
    # STREAMINFO follows "fLaC" and its 4-byte block header; total samples are the low 36 bits
    # of the 8 bytes at offset 18 (after the block and frame sizes).
    packed = int.from_bytes(data[18:26], "big")
    packed = (packed & ~((1 << 36) - 1)) | claimed_samples
    data[18:26] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def test_concurrent_inline_requests_cannot_overspend_the_budget(
    make_caller: MakeCaller, tmp_path: Path
) -> None:
    caller = make_caller()
    caller.set_budget(60.0)
    clip = speech_file(20.0, tmp_path / "twenty.wav")
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: caller.transcribe(clip), range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 402, 429}, [r.text for r in responses]
    served = statuses.count(200)
    usage = usage_rows(caller.server.database_url, caller.tenant_id)
    spent = sum(row.quantity for row in usage)
    # Three 20 s files fit a 60 s budget; the holds make the other requests see them.
    assert spent <= 60.0 + 1e-6
    assert spent == pytest.approx(served * 20.0, abs=0.01)
    assert served >= 1
    for resp in responses:
        if resp.status_code == 402:
            assert resp.json()["error"]["code"] == "BUDGET_EXHAUSTED"


def _poll_final(caller: Caller, job_id: str, timeout: float = 240) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = caller.job(job_id)
        if job["status"] in {"completed", "failed", "cancelled"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.parametrize("claimed", [16_000, 0], ids=["header-claims-1s", "no-duration"])
@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_job_whose_header_understates_its_audio_stops_at_the_budget(
    stack: JobStack, job_caller: Caller, tmp_path: Path, claimed: int
) -> None:
    job_caller.set_budget(30.0)
    # 40 minutes of silence in 440 KB: too long for the inline path, so it is queued on the
    # header's word; the runner must stop it at the 30 s the budget allows.
    bomb = flac_claiming(2400.0, claimed, tmp_path / "bomb.flac")
    resp = job_caller.transcribe(bomb)
    assert resp.status_code == 202, resp.text
    job = _poll_final(job_caller, resp.json()["data"]["job_id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "BUDGET_EXHAUSTED"  # type: ignore[index]
    usage = usage_rows(stack.database_url, job_caller.tenant_id)
    assert [row.quantity for row in usage] == [pytest.approx(30.0, abs=0.01)]
    assert job_caller.transcribe(recordings.librivox("0870").wav).status_code == 402
