"""The node pool by capability: which node ``pick`` gives, where ``broadcast`` runs a call.

Real nodes: in-process nodes on the tiny.en engine (silence: the engine answers from its
speech check, in milliseconds) and Triton nodes on a port where no server listens.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest

from scaiecho_module.backends.node import Capability, Node, NodeFailedError, NodeKind
from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.triton_node import TritonNode
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.transcript import Transcript
from tests.support.servers import free_port

SILENCE = np.zeros(16000, dtype=np.float32)


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    options = WhisperOptions(cpu_threads=1, beam_size=1)
    return WhisperEngine(resolve_model_dir(SttModelSettings(name="tiny.en")), "whisper-tiny.en", options)


@pytest.fixture
async def down() -> AsyncIterator[TritonNode]:
    """A Triton node whose server is gone, as its first readiness check finds it."""
    node = TritonNode("down", f"grpc://127.0.0.1:{free_port()}", timeout_seconds=5)
    assert not await node.check()
    yield node
    await node.close()


def _ids(nodes: list[Node]) -> list[str]:
    return [node.node_id for node in nodes]


async def test_pick_takes_the_least_busy_node_then_the_first_listed(engine: WhisperEngine) -> None:
    a, b = InProcessNode("a", engine), InProcessNode("b", engine)
    pool = NodePool([a, b])
    assert pool.pick(Capability.STT) is a
    busy = asyncio.create_task(a.transcribe(SILENCE, "en"))
    await asyncio.sleep(0)
    assert a.in_flight == 1
    assert pool.pick(Capability.STT) is b
    await busy
    assert pool.pick(Capability.STT) is a


async def test_pick_skips_an_unhealthy_node_and_the_excluded_ones(
    engine: WhisperEngine, down: TritonNode
) -> None:
    a = InProcessNode("a", engine)
    pool = NodePool([down, a])
    assert (down.healthy, down.last_error, down.capabilities()) == (False, "unreachable", frozenset())
    assert _ids(pool.serving(Capability.STT)) == ["a"]
    assert pool.pick(Capability.STT) is a
    with pytest.raises(ScaiEchoError) as refused:
        pool.pick(Capability.STT, exclude=frozenset({"a"}))
    assert refused.value.kind is BACKEND_UNAVAILABLE
    assert not NodePool([down]).available(Capability.STT)


async def test_no_node_serves_the_speaker_capability_yet(engine: WhisperEngine) -> None:
    pool = NodePool([InProcessNode("a", engine)])
    assert not pool.available(Capability.SPEAKER)
    with pytest.raises(ScaiEchoError) as refused:
        pool.pick(Capability.SPEAKER)
    assert refused.value.kind is BACKEND_UNAVAILABLE
    called: list[str] = []

    async def call(node: Node) -> None:
        called.append(node.node_id)

    outcome = await pool.broadcast(Capability.SPEAKER, call)
    assert (outcome.results, outcome.errors, called) == ({}, {}, [])


async def test_broadcast_runs_the_call_on_every_healthy_node_of_the_capability(
    engine: WhisperEngine, down: TritonNode
) -> None:
    pool = NodePool([InProcessNode("a", engine), down, InProcessNode("b", engine)])

    async def call(node: Node) -> Transcript:
        return await node.transcribe(SILENCE, "en")

    outcome = await pool.broadcast(Capability.STT, call)
    assert list(outcome.results) == ["a", "b"]  # the pool's order; the down node is not called
    assert all(t.segments == () and t.duration_seconds == 1.0 for t in outcome.results.values())
    assert outcome.errors == {}


async def test_broadcast_gives_each_node_its_error_and_marks_a_failed_node(engine: WhisperEngine) -> None:
    # Another API process saw this node ready (shared board); its server is gone since.
    stale = TritonNode("stale", f"grpc://127.0.0.1:{free_port()}", timeout_seconds=5)
    stale.apply(NodeState(True, None, {"scaiecho_stt_cpu": True, "not_ours": True}))
    assert stale.capabilities() == {Capability.STT}
    assert stale.readiness() == {"scaiecho_stt_cpu": True}  # only our models count
    a, b = InProcessNode("a", engine), InProcessNode("b", engine)
    pool = NodePool([a, stale, b])

    async def call(node: Node) -> str:
        if node is b:
            raise ValueError("refused by the caller's own check")
        await node.transcribe(SILENCE, "en")
        return node.node_id

    try:
        outcome = await pool.broadcast(Capability.STT, call)
    finally:
        await stale.close()
    assert outcome.results == {"a": "a"}
    assert list(outcome.errors) == ["stale", "b"]
    assert isinstance(outcome.errors["stale"], NodeFailedError)
    assert isinstance(outcome.errors["b"], ValueError)
    assert (stale.healthy, stale.last_error) == (False, "request_failed")
    assert b.healthy  # an error of the call is not the node failing
    assert _ids(pool.serving(Capability.STT)) == ["a", "b"]


def test_each_kind_says_what_it_is_through_the_node_interface(engine: WhisperEngine) -> None:
    local = InProcessNode("in-process", engine)
    assert (local.kind, local.kind.remote, local.model) == (NodeKind.IN_PROCESS, False, "whisper-tiny.en")
    assert local.capabilities() == {Capability.STT}
    assert local.readiness() == {"whisper-tiny.en": True}
    remote = TritonNode("t1", "grpc://127.0.0.1:1")
    assert (remote.kind, remote.kind.remote, remote.healthy) == (NodeKind.TRITON, True, False)
    assert (remote.capabilities(), remote.readiness(), remote.model) == (frozenset(), {}, "triton:unknown")


def test_a_configured_triton_model_replaces_discovery_for_stt() -> None:
    node = TritonNode("t1", "grpc://127.0.0.1:1", "my_stt_copy")
    assert (node.readiness(), node.model) == ({"my_stt_copy": False}, "triton:my_stt_copy")
    node.apply(NodeState(True, None, {"my_stt_copy": True, "scaiecho_stt": True}))
    assert node.readiness() == {"my_stt_copy": True}  # the repository's own STT models are not called
    assert node.capabilities() == {Capability.STT}


async def test_a_call_on_a_frozen_node_fails_as_the_node_when_check_drops_its_channel() -> None:
    # A frozen node (stopped process, partitioned host): TCP connects, nothing ever answers.
    # check() times out and closes the channel, which cancels the calls still on it; they must
    # end as a failed request, not as a CancelledError that ends the caller's loop.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        node = TritonNode("frozen", f"grpc://127.0.0.1:{silent.getsockname()[1]}", timeout_seconds=60)
        node.apply(NodeState(True, None, {"scaiecho_speaker": True}))
        try:
            listing = asyncio.create_task(node.enrolled_speakers())
            await asyncio.sleep(0.2)
            assert not await node.check()
            with pytest.raises(NodeFailedError):
                await asyncio.wait_for(listing, 5)
            assert (node.healthy, node.last_error) == (False, "request_failed")
            node.apply(NodeState(True, None, {"scaiecho_speaker": True}))
            cancelled = asyncio.create_task(node.enrolled_speakers())
            await asyncio.sleep(0.2)
            cancelled.cancel()  # the caller's own cancellation still propagates as such
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        finally:
            await node.close()


async def test_a_speaker_node_gone_offline_is_still_known_to_serve_speakers() -> None:
    # An erasure must name it: it may hold embeddings that the reconciler evicts on its return.
    node = TritonNode("gone", f"grpc://127.0.0.1:{free_port()}", timeout_seconds=5)
    node.apply(NodeState(True, None, {"scaiecho_stt": True, "scaiecho_speaker": True}))
    assert node.known_capabilities() == {Capability.STT, Capability.SPEAKER}
    assert not await node.check()
    assert node.capabilities() == frozenset()
    assert node.known_capabilities() == {Capability.STT, Capability.SPEAKER}
    assert _ids(NodePool([node]).serving(Capability.SPEAKER)) == []
    await node.close()
