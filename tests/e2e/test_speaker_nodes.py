"""The speaker library on two real Triton speaker nodes behind the served stub host.

``t1`` and ``t2`` serve ``scaiecho_speaker`` only; the in-process node transcribes (the consent
check) with its speaker engine off, so every embedding, enrollment and eviction goes over the
wire. Real speech: the LibriVox reference and consent of tests/support/speakers.py.

A node *killed* loses its memory; a node *frozen* (SIGSTOP on its process group) is unreachable
but keeps it: an erasure while a node is frozen is the case where an embedding would survive
if the reconciler did not evict it when the node returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scaiecho_module.backends.triton_node import TritonNode
from tests.e2e.conftest import Caller, caller_factory
from tests.e2e.test_speakers import enrolled
from tests.support import speakers
from tests.support.db import audit_rows
from tests.support.servers import StubServer, stub_server
from tests.support.triton import SPEAKER_MODEL, TritonServer, triton_server

NODE_IDS = ["t1", "t2"]


@dataclass
class Fleet:
    server: StubServer
    nodes: dict[str, TritonServer]
    owner: Caller  # one tenant for the module: its first speaker is shared by the tests

    def warm(self, speaker_id: str) -> dict[str, Any]:
        with self.owner.client() as client:
            data: dict[str, Any] = client.get(f"/speakers/{speaker_id}/warm").json()["data"]
        return data

    def healthy(self) -> dict[str, bool]:
        with self.owner.client() as client:
            return {n["node_id"]: n["healthy"] for n in client.get("/nodes").json()["data"]}

    def held(self, node_id: str) -> frozenset[tuple[str, str]]:
        """What the node itself says it holds (its ``list``), asked directly over gRPC."""

        async def ask() -> frozenset[tuple[str, str]]:
            node = TritonNode(node_id, self.nodes[node_id].grpc_url, timeout_seconds=30)
            try:
                assert await node.check()  # finds the speaker model in the repository index
                return await node.enrolled_speakers()
            finally:
                await node.close()

        return asyncio.run(ask())


def wait_for(what: Callable[[], Any], expected: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while (seen := what()) != expected:
        assert time.monotonic() < deadline, seen
        time.sleep(0.3)


@contextlib.contextmanager
def frozen(server: TritonServer) -> Iterator[None]:
    """The node unreachable with its memory intact: the server and its backend stubs stopped."""
    os.killpg(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.process.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("speaker-nodes")
    with (
        triton_server(work / "t1", models=(SPEAKER_MODEL,)) as t1,
        triton_server(work / "t2", models=(SPEAKER_MODEL,)) as t2,
    ):
        env = {
            "SCAIECHO_NODES": f"t1={t1.grpc_url},t2={t2.grpc_url}",
            "SCAIECHO_INPROCESS_NODE": "true",  # STT for the consent check only
            "SCAIECHO_SPEAKER_ENGINE": "false",
            "SCAIECHO_NODE_POLL_SECONDS": "0.5",
            # A call to a frozen node waits this long, not the default two minutes.
            "SCAIECHO_NODE_TIMEOUT_SECONDS": "20",
            "SCAIECHO_SPEAKER_RECONCILE_SECONDS": "1",
        }
        with stub_server(f"sqlite+aiosqlite:///{work / 'fleet.db'}", work / "stub", env) as server:
            yield Fleet(server, {"t1": t1, "t2": t2}, caller_factory(server)())


@pytest.fixture(scope="module")
def first(fleet: Fleet) -> dict[str, Any]:
    return enrolled(fleet.owner, display_name="Elinor Reader")


def test_enrollment_fans_out_to_both_speaker_nodes(fleet: Fleet, first: dict[str, Any]) -> None:
    with fleet.owner.client() as client:
        shown = {n["node_id"]: n["capabilities"] for n in client.get("/nodes").json()["data"]}
    assert shown == {"in-process": ["stt"], "t1": ["speaker"], "t2": ["speaker"]}
    assert first["enrollment_status"] == "ready"
    assert first["enrolled_on"] == NODE_IDS
    assert first["note"] is None
    verdicts = {f"{c['recording']}.{c['check']}": c["verdict"] for c in first["preflight"]["checks"]}
    # The voice checks ran on a Triton node's embeddings.
    assert verdicts["reference.one_voice"] == verdicts["consent.same_voice"] == "pass"
    assert fleet.warm(first["id"]) == {
        "speaker_id": first["id"],
        "warm_node_ids": NODE_IDS,
        "candidate_node_ids": NODE_IDS,
        "stale_node_ids": [],
    }
    for node_id in NODE_IDS:
        assert (fleet.owner.tenant_id, first["id"]) in fleet.held(node_id)


def test_a_killed_node_is_stale_and_warmed_again_by_itself_when_it_returns(
    fleet: Fleet, first: dict[str, Any]
) -> None:
    t2 = fleet.nodes["t2"]
    before = t2.process.pid
    t2.kill()
    try:
        wait_for(lambda: fleet.warm(first["id"])["stale_node_ids"], ["t2"])
        state = fleet.warm(first["id"])
        assert state["warm_node_ids"] == NODE_IDS and state["candidate_node_ids"] == ["t1"]
        with fleet.owner.client() as client:
            assert client.get(f"/speakers/{first['id']}").json()["data"]["enrollment_status"] == "ready"
    finally:
        t2.restart()
    assert t2.process.pid != before  # a new server process, with an empty library
    # Nobody asks: the reconciler enrolls it again from the stored reference recording.
    wait_for(lambda: (fleet.owner.tenant_id, first["id"]) in fleet.held("t2"), True)
    wait_for(lambda: fleet.warm(first["id"])["stale_node_ids"], [])
    assert fleet.warm(first["id"])["warm_node_ids"] == NODE_IDS
    actions = [row.action for row in audit_rows(fleet.server.database_url, fleet.owner.tenant_id)]
    assert "scaiecho.speaker.warm" not in actions  # no warm request was made


def test_erasure_with_a_node_down_names_it_and_evicts_there_when_it_returns(
    fleet: Fleet, first: dict[str, Any]
) -> None:
    wait_for(lambda: fleet.warm(first["id"])["warm_node_ids"], NODE_IDS)  # after the test above
    doomed = enrolled(fleet.owner, display_name="Erased Reader")
    assert doomed["enrolled_on"] == NODE_IDS
    key, kept = (fleet.owner.tenant_id, doomed["id"]), (fleet.owner.tenant_id, first["id"])
    t2 = fleet.nodes["t2"]
    with frozen(t2):
        wait_for(fleet.healthy, {"in-process": True, "t1": True, "t2": False})
        with fleet.owner.client() as client:
            resp = client.delete(f"/speakers/{doomed['id']}")
        assert resp.status_code == 200, resp.text
        erased = resp.json()["data"]
        assert erased["evicted_node_ids"] == ["t1"]
        assert erased["error_summary"] == {"t2": "offline; evicted when it returns"}
        assert erased["blob_bytes_deleted"] > 0
        assert key not in fleet.held("t1") and kept in fleet.held("t1")
    # Back with its memory (the same process, never restarted): the reconciler evicts the
    # erased speaker there and leaves the live one.
    assert t2.process.poll() is None
    wait_for(lambda: key in fleet.held("t2"), False)
    assert kept in fleet.held("t2")
    wait_for(fleet.healthy, {"in-process": True, "t1": True, "t2": True})
    rows = speakers.speaker_rows(fleet.server.database_url, fleet.owner.tenant_id)
    (audit,) = rows["erasures"]
    assert str(audit.id) == erased["audit_id"]
    assert audit.node_errors == {"t2": "offline; evicted when it returns"}
    left = speakers.blob_files(fleet.server.data_dir, fleet.owner.tenant_id)
    assert {path.parent.name for path in left} == {first["id"]}  # the erased speaker's are gone
