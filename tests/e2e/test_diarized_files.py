"""Speaker labels on files and jobs (diarize=true), served stub host, real voices.

One host for the module (sqlite; jobs in 30 s windows so a job's voices cross windows). The
conversation is a LibriVox reader then the pyannote telephone call (two more people), with
reference turns (tests/support/conversations.py). The reader is enrolled with the recordings
every speaker test uses; the conversation's sentence is not one of them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Caller, MakeCaller, caller_factory
from tests.e2e.test_speakers import FIELDS, enroll
from tests.support.conversations import READER, majority_labels, speaker91_enrollment, three_voices, top
from tests.support.db import usage_rows
from tests.support.servers import StubServer, stub_server

CALL = ("speaker90", "speaker91")
READER_NAME = FIELDS["display_name"]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    workdir = tmp_path_factory.mktemp("diarized")
    env = {"SCAIECHO_JOB_WINDOW_SECONDS": "30", "SCAIECHO_INLINE_MAX_BYTES": str(2 * 1024 * 1024)}
    with stub_server(f"sqlite+aiosqlite:///{workdir / 'db.sqlite'}", workdir, env) as running:
        yield running


@pytest.fixture(scope="module")
def make(host: StubServer) -> MakeCaller:
    return caller_factory(host)


def _diarized(caller: Caller, **fields: str) -> list[dict[str, Any]]:
    path, _ = three_voices()
    resp = caller.transcribe(path, diarize="true", **fields)
    assert resp.status_code == 200, resp.text
    segments: list[dict[str, Any]] = resp.json()["data"]["segments"]
    return segments


def _diarized_usage(caller: Caller) -> list[Any]:
    rows = usage_rows(caller.server.database_url, caller.tenant_id)
    return [e for e in rows if e.unit == "scaiecho.diarized_audio_seconds"]


def _enrolled_reader(caller: Caller) -> str:
    resp = enroll(caller)
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["enrollment_status"] == "ready"
    return str(resp.json()["data"]["id"])


def test_no_one_enrolled_gives_each_voice_its_own_cluster_label(make: MakeCaller) -> None:
    caller = make()
    segments = _diarized(caller)
    cover = majority_labels(segments, three_voices()[1])
    # spk_N in order of first appearance: the reader speaks first.
    assert top(cover[READER]) == "spk_0"
    assert {top(cover[who]) for who in CALL} == {"spk_1", "spk_2"}
    assert all("speaker_id" not in s and "words" not in s for s in segments)  # words were not asked for
    diarized = _diarized_usage(caller)
    assert len(diarized) == 1 and diarized[0].quantity == pytest.approx(segments[-1]["end"], abs=1.5)
    # Without diarize: no labels, and no diarized seconds metered.
    plain = caller.transcribe(three_voices()[0])
    assert all("speaker_label" not in s for s in plain.json()["data"]["segments"])
    assert (
        len([e for e in usage_rows(caller.server.database_url, caller.tenant_id) if "diarized" in e.unit])
        == 1
    )


def test_an_enrolled_reader_is_named_and_strangers_never_carry_the_name(make: MakeCaller) -> None:
    caller = make()
    reader_id = _enrolled_reader(caller)
    segments = _diarized(caller, timestamp_granularities="word")
    cover = majority_labels(segments, three_voices()[1])
    assert top(cover[READER]) == READER_NAME
    assert {top(cover[who]) for who in CALL} == {"spk_0", "spk_1"}  # numbered among the unnamed
    for who in CALL:
        assert READER_NAME not in cover[who] or cover[who][READER_NAME] < 0.5  # turn-edge jitter only
    named = [s for s in segments if s.get("speaker_label") == READER_NAME]
    assert named and all(s["speaker_id"] == reader_id for s in named)
    # Words were asked for: each segment's words lie inside it (a segment is one speaker's).
    assert all(s["words"] and s["start"] - 0.01 <= s["words"][0]["start"] for s in segments)
    # SRT carries the labels.
    srt = caller.transcribe(three_voices()[0], diarize="true", response_format="srt")
    assert srt.status_code == 200
    assert f"{READER_NAME}: " in srt.text and "spk_0: " in srt.text
    # Erased: the next transcription no longer names the reader.
    with caller.client() as client:
        assert client.delete(f"/speakers/{reader_id}").status_code == 200
    after = majority_labels(_diarized(caller), three_voices()[1])
    assert all(READER_NAME not in labels for labels in after.values())
    assert top(after[READER]) == "spk_0"


def test_both_enrolled_name_both(make: MakeCaller) -> None:
    caller = make()
    _enrolled_reader(caller)
    reference, consent, text = speaker91_enrollment()
    resp = enroll(caller, reference, consent, display_name="Caller Ninety-One", consent_text=text)
    assert resp.status_code == 201, resp.text
    cover = majority_labels(_diarized(caller), three_voices()[1])
    assert top(cover[READER]) == READER_NAME
    assert top(cover["speaker91"]) == "Caller Ninety-One"
    assert top(cover["speaker90"]) == "spk_0"


def test_diarize_without_the_permission_is_forbidden(make: MakeCaller) -> None:
    caller = make(permissions=["scaiecho:transcribe"])
    resp = caller.transcribe(three_voices()[0], diarize="true")
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["code"] == "FORBIDDEN" and error["details"]["permission"] == "scaiecho:diarize"
    assert make().transcribe(three_voices()[0], diarize="maybe").json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_job_stores_labels_stable_across_windows_and_erasure_leaves_them(make: MakeCaller) -> None:
    caller = make()
    reader_id = _enrolled_reader(caller)
    path, turns = three_voices("pcm_s32le")  # twice the bytes: over the inline limit, so queued
    resp = caller.transcribe(path, diarize="true")
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["data"]["job_id"]
    deadline = time.monotonic() + 240
    while (job := caller.job(job_id))["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(1)
    assert job["status"] == "completed", job
    segments = job["segments"]
    cover = majority_labels(segments, turns)
    assert top(cover[READER]) == READER_NAME
    # The call spans two windows (30 s at most, cut at a pause): its people keep one label each.
    assert {top(cover[who]) for who in CALL} == {"spk_0", "spk_1"}
    for who in CALL:
        assert cover[who][top(cover[who])] >= 0.8 * sum(cover[who].values()), (cover, segments)
    assert all("words" not in s for s in segments)
    with caller.client() as client:
        assert client.delete(f"/speakers/{reader_id}").status_code == 200
        srt = client.get(f"/transcribe/jobs/{job_id}", params={"format": "srt"})
    assert caller.job(job_id)["segments"] == segments  # stored labels are kept as written
    assert f"{READER_NAME}: " in srt.text
