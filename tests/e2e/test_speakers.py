"""The speaker library against the served stub host, on real human speech.

Reference and consent recordings are cut from real speech (tests/support/speakers.py). The
stub host serves the embedded default; until a speaker engine is on a node, enrollments are
``pending`` with their voice checks deferred, which these tests check as such.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Caller, MakeCaller, caller_factory
from tests.support import recordings, speakers
from tests.support.db import audit_rows, usage_rows
from tests.support.examples import run_example
from tests.support.servers import StubServer, stub_server

FIELDS = {
    "display_name": "Elinor Reader",
    "language_primary": "en",
    "description": "LibriVox reader",
    "consent_user_full_name": "Elinor Reader",
    "consent_stated_purpose": "Meeting transcription diarization",
    "consent_text": speakers.CONSENT_TEXT,
}


def enroll(
    caller: Caller, reference: Path | None = None, consent: Path | None = None, **fields: str
) -> httpx.Response:
    reference = reference or speakers.reference()
    consent = consent or speakers.consent()
    with reference.open("rb") as ref, consent.open("rb") as cons, caller.client() as client:
        return client.post(
            "/speakers",
            files={
                "reference": (reference.name, ref, "audio/wav"),
                "consent": (consent.name, cons, "audio/wav"),
            },
            data={**FIELDS, **fields},
        )


def enrolled(caller: Caller, **fields: str) -> dict[str, Any]:
    resp = enroll(caller, **fields)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


def _checks(block: dict[str, Any]) -> dict[str, str]:
    return {f"{c['recording']}.{c['check']}": c["verdict"] for c in block["checks"]}


@pytest.fixture(scope="module")
def nodeless_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    """The embedded default with the in-process node's speaker engine off: no speaker node."""
    workdir = tmp_path_factory.mktemp("nodeless")
    database_url = f"sqlite+aiosqlite:///{workdir / 'nodeless.db'}"
    with stub_server(database_url, workdir, {"SCAIECHO_SPEAKER_ENGINE": "false"}) as running:
        yield running


def test_enrollment_is_ready_on_the_in_process_speaker_node(caller: Caller) -> None:
    resp = enroll(caller)
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert resp.headers["location"].endswith(f"/speakers/{data['id']}")
    assert data["display_name"] == "Elinor Reader"
    assert data["enrollment_status"] == "ready"
    assert data["enrolled_on"] == ["in-process"]
    assert data["note"] is None
    block = data["preflight"]
    assert block["passed"] is True
    assert block["reference"]["speech_seconds"] > 10
    assert block["reference"]["snr_db"] > 12
    assert block["reference"]["voices"] == 1
    assert block["consent"]["duration_seconds"] == pytest.approx(3.29, abs=0.05)
    verdicts = _checks(block)
    for check in ("speech", "level", "clipping", "snr"):
        assert verdicts[f"reference.{check}"] == verdicts[f"consent.{check}"] == "pass"
    assert verdicts["consent.consent_text"] == "pass"
    assert verdicts["reference.one_voice"] == verdicts["consent.same_voice"] == "pass"

    with caller.client() as client:
        shown = client.get(f"/speakers/{data['id']}").json()["data"]
        listed = client.get("/speakers").json()
        warm = client.get(f"/speakers/{data['id']}/warm").json()["data"]
        rewarmed = client.post(f"/speakers/{data['id']}/warm", json={"node_ids": []}).json()["data"]
    assert shown["consent"]["consent_text"] == speakers.CONSENT_TEXT
    assert shown["consent"]["text_match"] >= 0.75
    assert shown["preflight"] == block
    assert shown["enrollment_status"] == "ready"
    assert [item["id"] for item in listed["data"]] == [data["id"]]
    assert warm == {
        "speaker_id": data["id"],
        "warm_node_ids": ["in-process"],
        "candidate_node_ids": ["in-process"],
        "stale_node_ids": [],
    }
    assert rewarmed["results"] == [{"node_id": "in-process", "ok": True, "error": None}]
    assert rewarmed["enrollment_status"] == "ready"
    actions = [row.action for row in audit_rows(caller.server.database_url, caller.tenant_id)]
    assert actions.count("scaiecho.speaker.enroll") == actions.count("scaiecho.speaker.warm") == 1


def test_enrollment_with_no_speaker_node_is_pending_with_a_note(nodeless_server: StubServer) -> None:
    caller = caller_factory(nodeless_server)()
    resp = enroll(caller)
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["enrollment_status"] == "pending"
    assert data["enrolled_on"] == []
    assert "no speaker node is online" in data["note"]
    verdicts = _checks(data["preflight"])
    assert verdicts["consent.consent_text"] == "pass"
    assert verdicts["reference.one_voice"] == verdicts["consent.same_voice"] == "not_checked"
    with caller.client() as client:
        state = client.get(f"/speakers/{data['id']}/warm").json()["data"]
        warmed = client.post(f"/speakers/{data['id']}/warm", json={"node_ids": []}).json()["data"]
        named = client.post(f"/speakers/{data['id']}/warm", json={"node_ids": ["nowhere"]}).json()["data"]
        assert client.post(f"/speakers/{data['id']}/warm", json={"node_ids": "all"}).status_code == 400
        assert client.get(f"/speakers/{data['id']}").json()["data"]["enrollment_status"] == "pending"
    assert state["warm_node_ids"] == state["candidate_node_ids"] == state["stale_node_ids"] == []
    assert warmed["results"] == [] and warmed["enrollment_status"] == "pending"
    assert named["results"] == [{"node_id": "nowhere", "ok": False, "error": "not_a_candidate"}]


def test_diarize_with_no_speaker_node_returns_no_labels_and_no_error(nodeless_server: StubServer) -> None:
    caller = caller_factory(nodeless_server)()
    resp = caller.transcribe(recordings.conversation(), diarize="true")
    assert resp.status_code == 200, resp.text
    segments = resp.json()["data"]["segments"]
    assert segments and all("speaker_label" not in s and "words" not in s for s in segments)
    units = {e.unit for e in usage_rows(nodeless_server.database_url, caller.tenant_id)}
    assert units == {"scaiecho.audio_seconds"}


def test_speaker_list_pages_with_a_cursor(caller: Caller) -> None:
    ids = [enrolled(caller, display_name=f"Reader {i}")["id"] for i in range(3)]
    seen: list[str] = []
    cursor = None
    with caller.client() as client:
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/speakers", params=params).json()
            seen += [item["id"] for item in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert client.get("/speakers", params={"limit": 0}).json()["error"]["code"] == "VALIDATION_ERROR"
    assert seen == ids[::-1]


@pytest.mark.parametrize(
    ("reference", "consent", "fields", "code", "failed"),
    [
        (speakers.short_reference, None, {}, "PREFLIGHT_TOO_LITTLE_SPEECH", "reference.speech"),
        (lambda: recordings.synthetic("silence"), None, {}, "PREFLIGHT_TOO_LITTLE_SPEECH",
         "reference.speech"),
        (lambda: speakers.degraded("quiet"), None, {}, "PREFLIGHT_TOO_QUIET", "reference.level"),
        (lambda: speakers.degraded("clipped"), None, {}, "PREFLIGHT_CLIPPING", "reference.clipping"),
        (lambda: speakers.degraded("noisy"), None, {}, "PREFLIGHT_TOO_NOISY", "reference.snr"),
        (None, lambda: recordings.synthetic("silence"), {}, "PREFLIGHT_TOO_LITTLE_SPEECH", "consent.speech"),
        (None, None, {"consent_text": recordings.librivox("0870").text}, "CONSENT_TEXT_MISMATCH",
         "consent.consent_text"),
        (speakers.both_voices, None, {}, "PREFLIGHT_SEVERAL_VOICES", "reference.one_voice"),
        (None, lambda: speakers.other_voice_consent()[0], {"consent_text": speakers.other_voice_consent()[1]},
         "CONSENT_VOICE_MISMATCH", "consent.same_voice"),
    ],
    ids=["short-speech", "silence", "quiet", "clipped", "noisy", "silent-consent", "wrong-consent-text",
         "two-voices", "other-voice-consent"],
)  # fmt: skip
def test_failed_preflight_is_422_with_its_code_and_stores_nothing(
    caller: Caller, reference: Any, consent: Any, fields: dict[str, str], code: str, failed: str
) -> None:
    before = speakers.blob_files(caller.server.data_dir, caller.tenant_id)
    resp = enroll(caller, reference() if reference else None, consent() if consent else None, **fields)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    block = error["details"]["preflight"]
    assert block["passed"] is False
    assert _checks(block)[failed] == "fail"
    assert f"{error['details']['recording']}.{error['details']['check']}" == failed
    assert {"duration_seconds", "speech_seconds", "level_dbfs", "clipped_fraction", "snr_db"} <= set(
        block["reference"]
    )
    rows = speakers.speaker_rows(caller.server.database_url, caller.tenant_id)
    assert rows == {"profiles": [], "consents": [], "erasures": []}
    assert speakers.blob_files(caller.server.data_dir, caller.tenant_id) == before
    with caller.client() as client:
        assert client.get("/speakers").json()["data"] == []


def test_missing_fields_and_recordings_are_validation_errors(caller: Caller) -> None:
    for field in ("display_name", "consent_text", "consent_user_full_name", "consent_stated_purpose"):
        resp = enroll(caller, **{field: "  "})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["details"]["field"] == field
    with speakers.reference().open("rb") as ref, caller.client() as client:
        resp = client.post("/speakers", files={"reference": ("r.wav", ref, "audio/wav")}, data=FIELDS)
        assert resp.json()["error"]["details"]["field"] == "consent"
        resp = client.post("/speakers", json={"display_name": "x"})
        assert resp.status_code == 415
    resp = enroll(caller, language_primary="klingon")
    assert resp.json()["error"]["details"]["field"] == "language_hint"
    assert speakers.speaker_rows(caller.server.database_url, caller.tenant_id)["profiles"] == []


def test_second_live_speaker_with_the_same_name_is_409_without_orphan_blobs(caller: Caller) -> None:
    first = enrolled(caller)
    files = speakers.blob_files(caller.server.data_dir, caller.tenant_id)
    resp = enroll(caller)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "SPEAKER_NAME_TAKEN"
    assert speakers.blob_files(caller.server.data_dir, caller.tenant_id) == files
    # Once erased, the name is free again.
    with caller.client() as client:
        assert client.delete(f"/speakers/{first['id']}").status_code == 200
    assert enrolled(caller)["display_name"] == FIELDS["display_name"]


def test_concurrent_enrollments_of_one_name_store_one_profile_and_its_recordings(caller: Caller) -> None:
    before = set(speakers.blob_files(caller.server.data_dir, caller.tenant_id))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        codes = sorted(
            r.status_code for r in pool.map(lambda _: enroll(caller, display_name="Twin"), range(3))
        )
    assert codes == [201, 409, 409]
    rows = speakers.speaker_rows(caller.server.database_url, caller.tenant_id)
    assert len(rows["profiles"]) == len(rows["consents"]) == 1
    added = set(speakers.blob_files(caller.server.data_dir, caller.tenant_id)) - before
    assert {path.parent.name for path in added} == {str(rows["profiles"][0].id)}  # the winner's only
    assert {path.name for path in added} == {"reference", "consent"}


ENDPOINTS = [
    ("GET", "/speakers"),
    ("GET", "/speakers/{id}"),
    ("GET", "/speakers/{id}/warm"),
    ("POST", "/speakers/{id}/warm"),
    ("DELETE", "/speakers/{id}"),
]


@pytest.mark.parametrize(
    "permissions",
    [(), ("scaiecho:transcribe",), ("scaiecho:transcribe", "scaiecho:diarize", "scaiecho:admin")],
    ids=["none", "transcribe", "all-but-enroll"],
)
def test_every_speaker_endpoint_needs_the_enroll_permission(
    make_caller: MakeCaller, permissions: tuple[str, ...]
) -> None:
    owner = make_caller()
    speaker_id = enrolled(owner)["id"]
    outsider = make_caller(permissions, tenant=owner.tenant_slug)
    assert enroll(outsider, display_name="Other").status_code == 403
    with outsider.client() as client:
        for method, path in ENDPOINTS:
            resp = client.request(
                method, path.format(id=speaker_id), json={"node_ids": []} if method == "POST" else None
            )
            assert resp.status_code == 403, (method, path)
            assert resp.json()["error"]["details"]["permission"] == "scaiecho:enroll"
    with httpx.Client(base_url=owner.server.api) as anonymous:
        assert anonymous.get(f"/speakers/{speaker_id}").status_code == 401
    with owner.client() as client:
        assert client.get(f"/speakers/{speaker_id}").status_code == 200


def test_another_tenants_speaker_is_404_everywhere(make_caller: MakeCaller) -> None:
    owner, stranger = make_caller(), make_caller()
    speaker_id = enrolled(owner)["id"]
    with stranger.client() as client:
        for method, path in ENDPOINTS[1:]:
            resp = client.request(
                method, path.format(id=speaker_id), json={"node_ids": []} if method == "POST" else None
            )
            assert resp.status_code == 404, (method, path)
            assert resp.json()["error"]["code"] == "NOT_FOUND"
        assert client.get("/speakers").json()["data"] == []
        assert client.get("/speakers/not-a-uuid").status_code == 404
    with owner.client() as client:
        assert client.get(f"/speakers/{speaker_id}").status_code == 200  # the stranger erased nothing
    # Same name in another tenant is another speaker, not a conflict.
    assert enrolled(stranger)["display_name"] == FIELDS["display_name"]


def test_erasure_leaves_no_recording_and_an_immutable_audit(caller: Caller) -> None:
    data = enrolled(caller)
    speaker_id = data["id"]
    sizes = speakers.reference().stat().st_size + speakers.consent().stat().st_size
    assert len(speakers.blob_files(caller.server.data_dir, caller.tenant_id)) == 2
    with caller.client() as client:
        resp = client.delete(f"/speakers/{speaker_id}")
        assert resp.status_code == 200, resp.text
        erased = resp.json()["data"]
        assert client.get(f"/speakers/{speaker_id}").status_code == 404
        assert client.get(f"/speakers/{speaker_id}/warm").status_code == 404
        assert client.post(f"/speakers/{speaker_id}/warm", json={}).status_code == 404
        assert client.delete(f"/speakers/{speaker_id}").status_code == 404
        assert client.get("/speakers").json()["data"] == []
    assert erased["erased"] is True
    assert erased["blob_bytes_deleted"] == sizes
    assert erased["evicted_node_ids"] == ["in-process"]
    assert erased["error_summary"] == {}
    assert speakers.blob_files(caller.server.data_dir, caller.tenant_id) == []
    rows = speakers.speaker_rows(caller.server.database_url, caller.tenant_id)
    (profile,) = rows["profiles"]
    assert profile.erased_at is not None and profile.erased_by_user_id == caller.user_id
    assert profile.reference_blob_key is None and profile.consent_blob_key is None
    (audit,) = rows["erasures"]
    assert str(audit.id) == erased["audit_id"] and audit.blob_bytes_deleted == sizes
    assert len(rows["consents"]) == 1  # the proof of consent outlives the recordings
    events = {row.action: row for row in audit_rows(caller.server.database_url, caller.tenant_id)}
    assert events["scaiecho.speaker.erase"].details["audit_id"] == erased["audit_id"]
    # Nothing biometric in the server's log: no recording bytes, no consent words.
    log = caller.server.log_text()
    assert speakers.CONSENT_TEXT not in log


@pytest.fixture(scope="module")
def base_model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    """The embedded default as `make run` serves it: Whisper base, SQLite, local blobs."""
    workdir = tmp_path_factory.mktemp("tutorial")
    database_url = f"sqlite+aiosqlite:///{workdir / 'tutorial.db'}"
    with stub_server(database_url, workdir, {"SCAIECHO_STT_MODEL": "base"}) as running:
        yield running


@pytest.mark.parametrize(
    ("script", "consent_text"),
    [
        (["bash", "enroll_speaker.sh"], speakers.TUTORIAL_CONSENTS[0]),
        (["python", "enroll_speaker_httpx.py"], speakers.TUTORIAL_CONSENTS[1]),
        (["node", "enroll_speaker_fetch.mjs"], speakers.TUTORIAL_CONSENTS[1]),
    ],
    ids=["curl", "httpx", "fetch"],
)
def test_tutorial_enrollment_snippets_run_as_written(
    base_model_server: StubServer, tmp_path: Path, script: list[str], consent_text: str
) -> None:
    """The tutorial's consent texts are words no real recording says: one espeak-ng voice says
    them (plumbing, not accuracy), transcribed by the default model as `make run` serves it."""
    caller = caller_factory(base_model_server)()
    speakers.synthetic_pair(tmp_path, consent_text)
    out = run_example(caller, tmp_path, script)
    assert "Alice Example" in out
    assert re.search(r"enrollment_status['\"]?:\s*['\"]ready", out), out  # Python, JSON or Node's print
    (profile,) = speakers.speaker_rows(caller.server.database_url, caller.tenant_id)["profiles"]
    assert profile.status == "ready"
    speaker_id = str(profile.id)
    env = {"SPEAKER_ID": speaker_id}
    state = run_example(caller, tmp_path, ["bash", "speaker_warm.sh"], env)
    assert "candidate_node_ids" in state and "stale_node_ids" in state
    rewarm = run_example(caller, tmp_path, ["bash", "speaker_rewarm.sh"], env)
    assert "results" in rewarm
    erased = run_example(caller, tmp_path, ["bash", "speaker_delete.sh"], env)
    assert "audit_id" in erased and "blob_bytes_deleted" in erased
    assert speakers.blob_files(caller.server.data_dir, caller.tenant_id) == []
