"""Backend A on real Triton servers: same transcripts as in-process, failover, recovery."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from scaiecho_module.backends.node import Capability, Node
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.triton_node import TritonNode
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.transcript import Transcript
from tests.e2e.conftest import Caller, caller_factory
from tests.support import recordings
from tests.support.peers import RIVA, peer_process, riva_relay_env
from tests.support.servers import StubServer, free_port, redis_server, stub_server
from tests.support.text import wer
from tests.support.triton import CPU_MODEL, SPEAKER_MODEL, TritonServer, triton_server
from tests.support.ws import StreamResult, speech_samples, stream_pcm


@dataclass
class Pool:
    server: StubServer
    nodes: dict[str, TritonServer]
    metrics_url: str

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
    metrics_port = free_port()
    with triton_server(work / "t1") as t1, triton_server(work / "t2") as t2:
        env = {
            "SCAIGRID_METRICS_PORT": str(metrics_port),
            "SCAIECHO_NODES": f"t1={t1.grpc_url},t2={t2.grpc_url}",
            "SCAIECHO_INPROCESS_NODE": "false",
            # No SCAIECHO_TRITON_MODEL: each node's STT model is found in its repository index.
            "SCAIECHO_NODE_POLL_SECONDS": "0.5",
        }
        with stub_server(f"sqlite+aiosqlite:///{work / 'pool.db'}", work / "stub", env) as server:
            yield Pool(server, {"t1": t1, "t2": t2}, f"http://127.0.0.1:{metrics_port}/metrics")


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


def test_word_times_and_hotwords_reach_a_triton_node(pool: Pool, caller: Caller) -> None:
    # Decode options travel in the OPTIONS tensor and words come back in RESULT.
    wav = recordings.librivox("0880").wav
    fields = {"language_hint": "en", "timestamp_granularities": "word", "hotwords": "ill-disposed"}
    remote = pool.caller().transcribe(wav, **fields).json()["data"]
    local = caller.transcribe(wav, **fields).json()["data"]
    assert remote["node_id"] in {"t1", "t2"}
    assert remote["segments"] == local["segments"]
    assert all(s["words"] for s in remote["segments"])
    assert "ill" in remote["transcript"].lower()


def test_live_prompt_and_hotwords_reach_a_triton_node(pool: Pool) -> None:
    # The open frame's hints travel in the OPTIONS tensor of each live decode: a prompt in
    # capitals is copied (as on files, test_vocabulary_hints.py) and the hotword is heard.
    caller = pool.caller()
    samples, _ = speech_samples("0880")
    open_frame = {"type": "open", "language_hint": "en", "media_type": "audio/pcm",
                  "prompt": "HE WAS NOT AN ILL-DISPOSED YOUNG MAN. THE ILL-DISPOSED MAN.",
                  "hotwords": "ill-disposed"}  # fmt: skip
    result = stream_pcm(pool.server.api, caller.key, samples, realtime=False, open_frame=open_frame)
    assert result.close_code == 1000, result.frames[-3:]
    assert result.finals and result.text.isupper(), result.finals
    assert "ILL-DISPOSED" in result.text.replace(" DISPOSED", "-DISPOSED"), result.text


def test_live_session_on_triton_gives_the_same_finals(pool: Pool) -> None:
    caller = pool.caller()
    samples, _ = speech_samples("0870", "0930")
    result = stream_pcm(pool.server.api, caller.key, samples, realtime=False, frame_ms=200)
    assert result.close_code == 1000
    references = " ".join(recordings.librivox(c).text for c in ("0870", "0930"))
    assert wer(references, result.text) <= 0.15


def test_concurrent_requests_are_decoded_as_one_batch_with_the_same_transcripts(pool: Pool) -> None:
    node = TritonNode("t1", pool.nodes["t1"].grpc_url, CPU_MODEL)
    clips = recordings.all_librivox() * 2
    audio = [recordings.read_pcm(c.wav).astype(np.float32) / 32768 for c in clips]
    before = _stats(pool.nodes["t1"])

    async def run() -> list[Transcript]:
        try:
            return await asyncio.gather(*(node.transcribe(a, "en") for a in audio))
        finally:
            await node.close()

    transcripts = asyncio.run(run())
    one_by_one = [asyncio.run(_single(pool.nodes["t1"], a)) for a in audio[:5]]
    after = _stats(pool.nodes["t1"])
    assert [t.text for t in transcripts[:5]] == [t.text for t in one_by_one]
    assert transcripts[:5] == transcripts[5:]
    heard = " ".join(t.text for t in transcripts)
    assert wer(" ".join(c.text for c in clips), heard) <= 0.15, heard
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == 15
    # Ten concurrent requests reached the model in fewer executions: Triton batched them.
    assert executions < 10 + 5, (inferences, executions)


async def _single(server: TritonServer, audio: np.ndarray) -> Transcript:
    node = TritonNode("single", server.grpc_url, CPU_MODEL)
    try:
        return await node.transcribe(audio, "en")
    finally:
        await node.close()


def _stats(server: TritonServer) -> dict[str, int]:
    stats = httpx.get(f"{server.http_url}/v2/models/{CPU_MODEL}/stats", timeout=5).json()["model_stats"][0]
    return {key: int(stats[key]) for key in ("inference_count", "execution_count")}


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


def test_a_triton_node_serves_stt_as_its_repository_index_says(pool: Pool) -> None:
    # The repository has both STT models and the speaker model; the servers load the CPU STT
    # one only (explicit mode), so they serve stt alone.
    with pool.caller().client() as client:
        shown = client.get("/nodes").json()["data"]
    models = {"scaiecho_stt": False, CPU_MODEL: True, SPEAKER_MODEL: False}
    assert [(n["node_id"], n["kind"], n["capabilities"], n["models"]) for n in shown] == [
        (node_id, "triton", ["stt"], models) for node_id in ("t1", "t2")
    ]

    async def discover() -> tuple[bool, str | None, frozenset[Capability], str]:
        node = TritonNode("t1", pool.nodes["t1"].grpc_url)  # no model named: discovery alone
        try:
            healthy = await node.check()
            transcript = await node.transcribe(_pcm("0930"), "en")
            return healthy, node.last_error, node.capabilities(), transcript.text
        finally:
            await node.close()

    healthy, error, capabilities, text = asyncio.run(discover())
    assert (healthy, error, capabilities) == (True, None, {Capability.STT})
    assert wer(recordings.librivox("0930").text, text) <= 0.15, text


def test_a_configured_model_the_node_does_not_serve_leaves_it_not_ready(pool: Pool) -> None:
    async def check() -> tuple[bool, str | None, dict[str, bool]]:
        node = TritonNode("t1", pool.nodes["t1"].grpc_url, "scaiecho_stt")  # in the repository, not loaded
        try:
            return await node.check(), node.last_error, dict(node.readiness())
        finally:
            await node.close()

    healthy, error, readiness = asyncio.run(check())
    # The repository also holds the speaker model (not loaded here): no model of ours is ready.
    assert (healthy, error, readiness["scaiecho_stt"]) == (False, "not_ready", False)
    assert not any(readiness.values()), readiness


def test_the_in_process_node_shows_its_kind_capability_and_model(caller: Caller) -> None:
    # The embedded default loads the speaker engine too (SCAIECHO_SPEAKER_ENGINE=true).
    with caller.client() as client:
        (node,) = client.get("/nodes").json()["data"]
    model = node["model"]
    assert model.startswith("whisper-")
    assert node == {
        "node_id": "in-process",
        "kind": "in-process",
        "healthy": True,
        "in_flight": 0,
        "model": model,
        "last_error": None,
        "capabilities": ["speaker", "stt"],
        "models": {model: True, "campplus-192": True},
    }


def test_broadcast_reaches_the_in_process_node_and_a_triton_node_alike(pool: Pool) -> None:
    engine = WhisperEngine(
        resolve_model_dir(SttModelSettings(name="tiny.en")),
        "whisper-tiny.en",
        WhisperOptions(cpu_threads=1, beam_size=1),
    )

    async def run() -> dict[str, str]:
        nodes = NodePool([InProcessNode("in-process", engine), TritonNode("t1", pool.nodes["t1"].grpc_url)])
        await nodes.start(poll_seconds=60)
        try:

            async def call(node: Node) -> str:
                return (await node.transcribe(_pcm("0930"), "en")).text

            outcome = await nodes.broadcast(Capability.STT, call)
            assert outcome.errors == {}
            return outcome.results
        finally:
            await nodes.close()

    results = asyncio.run(run())
    assert list(results) == ["in-process", "t1"]
    assert results["in-process"] == results["t1"]  # the same engine on both kinds of node


def _pcm(clip: str) -> np.ndarray:
    return recordings.read_pcm(recordings.librivox(clip).wav).astype(np.float32) / 32768


def test_prometheus_metrics_show_the_nodes_and_the_transcriptions(pool: Pool) -> None:
    caller = pool.caller()
    assert caller.transcribe(recordings.librivox("0930").wav, language_hint="en").status_code == 200
    with caller.client() as client:
        assert client.post("/transcribe", files={"file": ("x.wav", b"not audio")}).status_code == 422
    live = stream_pcm(pool.server.api, caller.key, speech_samples("0930")[0], realtime=False)
    assert any(f.data.get("is_final") for f in live.frames)
    text = httpx.get(pool.metrics_url, timeout=5).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("scaiecho_")
    }
    assert samples['scaiecho_node_healthy{node="t1"}'] == 1.0
    assert samples['scaiecho_node_healthy{node="t2"}'] == 1.0
    assert samples['scaiecho_node_in_flight{node="t1"}'] == 0.0
    assert samples['scaiecho_transcriptions_total{backend="A",mode="sync",outcome="completed"}'] >= 1
    assert samples['scaiecho_audio_seconds_total{backend="A",mode="sync"}'] >= 3.0
    assert any(key.startswith("scaiecho_errors_total{code=") for key in samples)
    assert any(key.startswith("scaiecho_node_request_seconds_count{node=") for key in samples)
    assert samples['scaiecho_live_final_seconds_count{transport="websocket"}'] >= 1  # that final
    assert caller.tenant_id not in text and caller.key not in text  # nobody is identified


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


def test_api_processes_sharing_redis_learn_a_node_failure_from_each_other(pool: Pool, tmp_path: Path) -> None:
    nodes = ",".join(f"{node_id}={server.grpc_url}" for node_id, server in pool.nodes.items())
    wav = recordings.librivox("0930").wav
    with redis_server() as redis:
        env = {
            "SCAIECHO_NODES": nodes,
            "SCAIECHO_INPROCESS_NODE": "false",
            "SCAIECHO_TRITON_MODEL": CPU_MODEL,
            # Neither process polls again during the test: what b learns, it learns from a.
            "SCAIECHO_NODE_POLL_SECONDS": "60",
            "SCAIGRID_REDIS_URL": redis,
        }
        with (
            stub_server(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path / "a", env) as a,
            stub_server(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", tmp_path / "b", env) as b,
        ):
            on_a, on_b = caller_factory(a)(), caller_factory(b)()
            assert pool.node_states(on_a) == pool.node_states(on_b) == {"t1": True, "t2": True}
            pool.nodes["t1"].kill()
            try:
                # a's request goes to t1 (least in flight, listed first), fails, is retried on t2.
                response = on_a.transcribe(wav, language_hint="en")
                assert response.status_code == 200
                assert response.json()["data"]["node_id"] == "t2"
                pool.wait_states(on_b, {"t1": False, "t2": True}, timeout=5)
                assert on_b.transcribe(wav, language_hint="en").json()["data"]["node_id"] == "t2"
            finally:
                pool.nodes["t1"].restart()
    pool.wait_states(pool.caller(), {"t1": True, "t2": True})


def test_a_live_session_whose_nodes_all_die_moves_to_the_relay(pool: Pool, tmp_path: Path) -> None:
    riva_port, key = free_port(), "riva-failover-key"
    env = {
        "SCAIECHO_NODES": ",".join(f"{node_id}={server.grpc_url}" for node_id, server in pool.nodes.items()),
        "SCAIECHO_INPROCESS_NODE": "false",
        "SCAIECHO_TRITON_MODEL": CPU_MODEL,
        "SCAIECHO_NODE_POLL_SECONDS": "0.5",
        **riva_relay_env(f"127.0.0.1:{riva_port}", key),
    }
    clips = ("0870", "0890", "0920")
    samples, _ = speech_samples(*clips)
    live: dict[str, StreamResult] = {}
    try:
        with (
            peer_process(RIVA, riva_port, key),
            stub_server(f"sqlite+aiosqlite:///{tmp_path / 'ab.db'}", tmp_path / "stub", env) as server,
        ):
            caller = caller_factory(server)()
            with caller.client() as client:
                policy = {"allowed_backends": ["A", "B"], "default_backend": "A"}
                assert client.put("/tenant-policy", json=policy).status_code == 200
            streamer = threading.Thread(
                target=lambda: live.update(result=stream_pcm(server.api, caller.key, samples, realtime=True))
            )
            streamer.start()
            time.sleep(4)  # inside the first sentence, before its final
            for node in pool.nodes.values():
                node.kill()
            streamer.join(timeout=120)
    finally:
        for node in pool.nodes.values():
            if node.process.poll() is not None:
                node.restart()
    result = live["result"]
    assert result.of("ready")[0]["backend_used"] == "A"
    # BEHIND/CAUGHT_UP may come too: the replay is decoded while new audio waits.
    switches = [i for i in result.of("info") if i["code"] not in {"BEHIND", "CAUGHT_UP"}]
    assert [(i["code"], i["backend_used"]) for i in switches] == [("BACKEND_SWITCHED", "B")]
    assert result.close_code == 1000, result.frames[-3:]
    assert len(result.finals) == 3, result.finals
    assert wer(" ".join(recordings.librivox(c).text for c in clips), result.text) <= 0.15, result.text
    pool.wait_states(pool.caller(), {"t1": True, "t2": True})
