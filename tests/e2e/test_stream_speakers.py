"""Speaker labels on live deltas (``diarize: true``), against the served stub host.

A real conversation of two real voices with known turns (tests/support/two_voices.py),
streamed faster than real time (the recogniser's utterances follow the audio, not the clock),
labelled by the in-process speaker node with real enrollments. Backend B and the diarize
permission are covered in test_relay.py and test_stream.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Caller, caller_factory
from tests.e2e.test_speakers import enroll
from tests.support import two_voices
from tests.support.db import audit_rows, usage_rows
from tests.support.examples import run_example
from tests.support.servers import StubServer, stub_server
from tests.support.triton import SPEAKER_MODEL, triton_server
from tests.support.two_voices import ELINOR, SHEILA, Turn
from tests.support.ws import StreamResult, stream_pcm

OPEN = {"type": "open", "language_hint": "en", "media_type": "audio/pcm", "diarize": True}


def _stream(caller: Caller) -> tuple[StreamResult, list[Turn]]:
    samples, turns = two_voices.live_conversation()
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=False, open_frame=OPEN)
    assert result.close_code == 1000, result.frames[-3:]
    return result, turns


def _overlap(delta: dict[str, Any], turn: Turn) -> float:
    return max(0.0, min(delta["end"], turn.end) - max(delta["start"], turn.start))


def _labels_by_speaker(result: StreamResult, turns: list[Turn]) -> dict[str, list[dict[str, Any]]]:
    """Each final under the one speaker whose turn it covers; none may cover two."""
    by_who: dict[str, list[dict[str, Any]]] = {}
    for final in result.finals:
        overlaps = sorted(((_overlap(final, t), t.who) for t in turns), reverse=True)
        assert overlaps[0][0] > 0, final
        # Word times round at the edges; a final across a change would cover seconds of both.
        assert overlaps[1][0] < 0.5 or overlaps[1][1] == overlaps[0][1], (final, overlaps)
        by_who.setdefault(overlaps[0][1], []).append(final)
    assert set(by_who) == {ELINOR, SHEILA}, result.finals
    return by_who


def _only(finals: list[dict[str, Any]], field: str) -> set[Any]:
    return {f.get(field) for f in finals}


def _enroll(caller: Caller, who: str) -> str:
    if who == ELINOR:
        resp = enroll(caller, two_voices.elinor_reference(), display_name="Elinor Reader")
    else:
        reference, consent, words = two_voices.sheila_recordings()
        resp = enroll(
            caller, reference, consent, display_name="Sheila Texas", consent_user_full_name="Sheila Texas",
            consent_text=words, description="telephone caller",
        )  # fmt: skip
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["enrollment_status"] == "ready", data
    return str(data["id"])


def test_no_one_enrolled_gets_session_clusters_and_a_final_split_at_the_change(caller: Caller) -> None:
    result, turns = _stream(caller)
    by_who = _labels_by_speaker(result, turns)
    assert _only(by_who[ELINOR], "speaker_label") == {"spk_0"}  # both her turns: stable
    assert _only(by_who[SHEILA], "speaker_label") == {"spk_1"}
    assert all("speaker_id" not in f for f in result.finals)  # no profile behind a cluster
    # Elinor's second turn follows Sheila's at once: one utterance, split at the change.
    sheila_end = next(t.end for t in turns if t.who == SHEILA)
    assert any(abs(f["start"] - sheila_end) < 1.0 for f in by_who[ELINOR]), result.finals
    # Diarized seconds are metered on top of the audio seconds, for the audio labelled.
    usage = {row.unit: row.quantity for row in usage_rows(caller.server.database_url, caller.tenant_id)}
    assert 0 < usage["scaiecho.diarized_audio_seconds"] <= usage["scaiecho.audio_seconds"]
    close = next(r for r in audit_rows(caller.server.database_url, caller.tenant_id)
                 if r.action == "scaiecho.stream.close")  # fmt: skip
    assert close.details["diarized_seconds"] == usage["scaiecho.diarized_audio_seconds"]


def test_both_speakers_enrolled_get_their_names_on_their_finals(caller: Caller) -> None:
    elinor, sheila = _enroll(caller, ELINOR), _enroll(caller, SHEILA)
    result, turns = _stream(caller)
    by_who = _labels_by_speaker(result, turns)
    assert _only(by_who[ELINOR], "speaker_label") == {"Elinor Reader"}
    assert _only(by_who[ELINOR], "speaker_id") == {elinor}
    assert _only(by_who[SHEILA], "speaker_label") == {"Sheila Texas"}
    assert _only(by_who[SHEILA], "speaker_id") == {sheila}


def test_one_enrolled_is_named_beside_spk_0_and_once_erased_no_new_session_names_her(caller: Caller) -> None:
    elinor = _enroll(caller, ELINOR)
    result, turns = _stream(caller)
    by_who = _labels_by_speaker(result, turns)
    assert _only(by_who[ELINOR], "speaker_label") == {"Elinor Reader"}
    assert _only(by_who[SHEILA], "speaker_label") == {"spk_0"}  # the stranger is never named
    assert _only(by_who[SHEILA], "speaker_id") == {None}

    with caller.client() as client:
        assert client.delete(f"/speakers/{elinor}").status_code == 200
    result, turns = _stream(caller)
    by_who = _labels_by_speaker(result, turns)
    labels = {f.get("speaker_label") for f in result.finals}
    assert "Elinor Reader" not in labels
    assert all("speaker_id" not in f for f in result.finals)
    assert _only(by_who[ELINOR], "speaker_label") == {"spk_0"}
    assert _only(by_who[SHEILA], "speaker_label") == {"spk_1"}


def test_tutorial_diarized_stream_snippet_prints_labels(caller: Caller, tmp_path: Path) -> None:
    _enroll(caller, ELINOR)
    samples, _ = two_voices.live_conversation()
    two_voices.wav_of(samples, tmp_path / "meeting.wav")
    lines = run_example(caller, tmp_path, ["python", "stream_diarized.py"]).splitlines()
    assert '"backend_used":"A"' in lines[0]
    assert any(line.startswith("Elinor Reader ") for line in lines[1:]), lines
    assert any(line.startswith("spk_0 ") for line in lines[1:]), lines


@pytest.fixture(scope="module")
def nodeless_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    """The embedded default with the in-process node's speaker engine off: no speaker node."""
    workdir = tmp_path_factory.mktemp("nodeless-live")
    database_url = f"sqlite+aiosqlite:///{workdir / 'nodeless.db'}"
    with stub_server(database_url, workdir, {"SCAIECHO_SPEAKER_ENGINE": "false"}) as running:
        yield running


def test_no_speaker_node_means_no_labels_no_error_and_nothing_diarized(nodeless_server: StubServer) -> None:
    caller: Caller = caller_factory(nodeless_server)()
    result, turns = _stream(caller)
    # Unlabelled, Sheila's turn and Elinor's next are one final: the split seen with a speaker
    # node (test_no_one_enrolled...) is the labeller's.
    sheila, elinor = turns[1], turns[2]
    assert any(_overlap(f, sheila) > 1.0 and _overlap(f, elinor) > 1.0 for f in result.finals), result.finals
    assert all("speaker_label" not in d and "speaker_id" not in d for d in result.of("delta"))
    units = {row.unit for row in usage_rows(nodeless_server.database_url, caller.tenant_id)}
    assert units == {"scaiecho.audio_seconds"}


@pytest.fixture(scope="module")
def triton_speaker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    """STT on the in-process node, the speaker engine only on a real Triton server."""
    work = tmp_path_factory.mktemp("triton-live")
    with triton_server(work / "t1", models=(SPEAKER_MODEL,)) as t1:
        env = {
            "SCAIECHO_NODES": f"t1={t1.grpc_url}",
            "SCAIECHO_INPROCESS_NODE": "true",
            "SCAIECHO_SPEAKER_ENGINE": "false",
            "SCAIECHO_NODE_POLL_SECONDS": "0.5",
        }
        with stub_server(f"sqlite+aiosqlite:///{work / 'live.db'}", work / "stub", env) as server:
            yield server


def test_labels_come_from_a_triton_speaker_node(triton_speaker_server: StubServer) -> None:
    caller: Caller = caller_factory(triton_speaker_server)()
    with caller.client() as client:
        nodes = {n["node_id"]: n["capabilities"] for n in client.get("/nodes").json()["data"]}
    assert nodes == {"in-process": ["stt"], "t1": ["speaker"]}
    elinor = _enroll(caller, ELINOR)
    result, turns = _stream(caller)
    by_who = _labels_by_speaker(result, turns)
    assert _only(by_who[ELINOR], "speaker_id") == {elinor}
    assert _only(by_who[SHEILA], "speaker_label") == {"spk_0"}
