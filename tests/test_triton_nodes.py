"""Backend A on real Triton servers: same transcripts as in-process, failover, recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import Caller, caller_factory
from tests.support import recordings
from tests.support.servers import StubServer, stub_server
from tests.support.text import wer
from tests.support.triton import TritonServer, triton_server
from tests.support.ws import speech_samples, stream_pcm


@dataclass
class Pool:
    server: StubServer
    nodes: dict[str, TritonServer]

    def caller(self) -> Caller:
        return caller_factory(self.server)()

    def node_states(self, caller: Caller) -> dict[str, bool]:
        with caller.client() as client:
            return {n["node_id"]: n["healthy"] for n in client.get("/nodes").json()["data"]}

    def wait_states(self, caller: Caller, expected: dict[str, bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.node_states(caller) != expected:
            assert time.monotonic() < deadline, self.node_states(caller)
            time.sleep(0.3)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    work = tmp_path_factory.mktemp("triton")
    with triton_server(work / "t1") as t1, triton_server(work / "t2") as t2:
        env = {
            "SCAIECHO_NODES": f"t1={t1.grpc_url},t2={t2.grpc_url}",
            "SCAIECHO_INPROCESS_NODE": "false",
            "SCAIECHO_TRITON_MODEL": "scaiecho_stt_cpu",
            "SCAIECHO_NODE_POLL_SECONDS": "0.5",
        }
        with stub_server(f"sqlite+aiosqlite:///{work / 'pool.db'}", work / "stub", env) as server:
            yield Pool(server, {"t1": t1, "t2": t2})


def test_batch_transcription_on_triton_matches_the_in_process_node(pool: Pool, caller: Caller) -> None:
    on_triton = pool.caller()
    for clip in ("0870", "0930"):
        wav = recordings.librivox(clip).wav
        remote = on_triton.transcribe(wav, language_hint="en").json()["data"]
        local = caller.transcribe(wav, language_hint="en").json()["data"]
        assert remote["node_id"] in {"t1", "t2"}
        assert local["node_id"] == "in-process"
        assert remote["transcript"] == local["transcript"]
        assert remote["segments"] == local["segments"]


def test_live_session_on_triton_gives_the_same_finals(pool: Pool) -> None:
    caller = pool.caller()
    samples, _ = speech_samples("0870", "0930")
    result = stream_pcm(pool.server.api, caller.key, samples, realtime=False, frame_ms=200)
    assert result.close_code == 1000
    references = " ".join(recordings.librivox(c).text for c in ("0870", "0930"))
    assert wer(references, result.text) <= 0.15


def test_node_state_is_visible_to_admins_only(pool: Pool) -> None:
    admin = pool.caller()
    assert pool.node_states(admin) == {"t1": True, "t2": True}
    with admin.client() as client:
        assert all(
            n["kind"] == "triton" and n["last_error"] is None for n in client.get("/nodes").json()["data"]
        )
    user = caller_factory(pool.server)(permissions=["scaiecho:transcribe"])
    with user.client() as client:
        assert client.get("/nodes").status_code == 403


def test_a_node_dying_mid_run_loses_no_request_or_session(pool: Pool) -> None:
    caller = pool.caller()
    wav = recordings.librivox("0930").wav
    statuses: list[int] = []
    samples, _ = speech_samples("0870", "0890", "0920")
    live: dict[str, object] = {}

    def session() -> None:
        live["result"] = stream_pcm(pool.server.api, caller.key, samples, realtime=True)

    streamer = threading.Thread(target=session)
    streamer.start()
    for index in range(8):
        if index == 3:
            pool.nodes["t1"].kill()
        statuses.append(caller.transcribe(wav, language_hint="en").status_code)
    streamer.join(timeout=120)
    assert statuses == [200] * 8
    result = live["result"]
    assert result.close_code == 1000, result.frames[-3:]  # type: ignore[attr-defined]
    assert len(result.finals) == 3  # type: ignore[attr-defined]
    pool.wait_states(caller, {"t1": False, "t2": True})
    pool.nodes["t1"].restart()
    pool.wait_states(caller, {"t1": True, "t2": True})


def test_no_node_up_is_503_and_4502_until_one_returns(pool: Pool) -> None:
    caller = pool.caller()
    for node in pool.nodes.values():
        node.kill()
    pool.wait_states(caller, {"t1": False, "t2": False})
    with caller.client() as client:
        errors = {n["last_error"] for n in client.get("/nodes").json()["data"]}
    assert errors == {"unreachable"}  # a category, never an internal address
    resp = caller.transcribe(recordings.librivox("0930").wav)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "BACKEND_UNAVAILABLE"
    samples, _ = speech_samples("0930")
    assert stream_pcm(pool.server.api, caller.key, samples, realtime=False).close_code == 4502
    pool.nodes["t2"].restart()
    pool.wait_states(caller, {"t1": False, "t2": True})
    assert caller.transcribe(recordings.librivox("0930").wav).json()["data"]["node_id"] == "t2"
    pool.nodes["t1"].restart()
    pool.wait_states(caller, {"t1": True, "t2": True})
