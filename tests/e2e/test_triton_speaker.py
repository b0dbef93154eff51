"""The speaker engine on real Triton servers: the same calls as the in-process node, over gRPC.

Two servers: ``t1`` serves STT and speaker, ``t2`` speaker only. Each holds its own library;
a restarted server holds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from scaiecho_module.backends.node import Capability
from scaiecho_module.backends.triton_node import TritonNode
from tests.support.speakers import conversation_voices, embedder, librivox_voices
from tests.support.triton import CPU_MODEL, SPEAKER_MODEL, TritonServer, triton_server

THRESHOLD = 0.5


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TritonServer]]:
    work: Path = tmp_path_factory.mktemp("triton-speaker")
    with (
        triton_server(work / "t1", models=(CPU_MODEL, SPEAKER_MODEL)) as t1,
        triton_server(work / "t2", models=(SPEAKER_MODEL,)) as t2,
    ):
        yield {"t1": t1, "t2": t2}


@pytest.fixture
async def nodes(servers: dict[str, TritonServer]) -> AsyncIterator[dict[str, TritonNode]]:
    found = {name: TritonNode(name, server.grpc_url, timeout_seconds=60) for name, server in servers.items()}
    for node in found.values():
        assert await node.check()
    yield found
    for node in found.values():
        await node.close()


async def test_nodes_declare_what_their_models_serve(nodes: dict[str, TritonNode]) -> None:
    assert nodes["t1"].capabilities() == {Capability.STT, Capability.SPEAKER}
    assert nodes["t2"].capabilities() == {Capability.SPEAKER}
    assert {name for name, ready in nodes["t2"].readiness().items() if ready} == {SPEAKER_MODEL}


async def test_embedding_over_the_wire_is_the_in_process_engines(nodes: dict[str, TritonNode]) -> None:
    audio = np.concatenate(librivox_voices()[:2])
    remote = await nodes["t2"].embed_voice(audio)
    local = embedder().voice_windows(audio)
    assert remote.voice is not None and local.voice is not None
    assert len(remote.vectors) == len(local.vectors) >= 2
    assert np.allclose(remote.starts, local.starts) and np.allclose(remote.ends, local.ends)
    assert np.allclose(remote.vectors, local.vectors, atol=1e-4)
    assert float(remote.voice @ local.voice) > 0.9999
    silent = await nodes["t2"].embed_voice(np.zeros(3 * 16000, dtype=np.float32))
    assert silent.voice is None and len(silent.vectors) == 0
    # Windows only (a live labeller's blocks): the same windows, no voice.
    windows = await nodes["t2"].embed_voice(audio, voice=False)
    assert windows.voice is None and np.allclose(windows.vectors, local.vectors, atol=1e-4)
    assert np.allclose(windows.starts, local.starts)


async def test_enroll_match_evict_and_list_over_the_wire(nodes: dict[str, TritonNode]) -> None:
    narrator = embedder().embed([np.concatenate(librivox_voices()[:2])])[0]
    stranger = embedder().embed([np.concatenate(conversation_voices()["speaker91"])])[0]
    later = embedder().embed([np.concatenate(librivox_voices()[3:])])[0]
    for node in nodes.values():
        await node.enroll_speaker("tenant-a", "narrator", narrator)
        assert await node.enrolled_speakers() == {("tenant-a", "narrator")}
        found = await node.match_speakers("tenant-a", np.stack([later, stranger]), THRESHOLD)
        assert found[0].speaker_id == "narrator" and found[0].score > 0.7
        assert found[1].speaker_id is None
        (elsewhere,) = await node.match_speakers("tenant-b", later[None, :], THRESHOLD)
        assert elsewhere.speaker_id is None
        assert not await node.evict_speaker("tenant-b", "narrator")
        assert await node.evict_speaker("tenant-a", "narrator")
        assert await node.enrolled_speakers() == frozenset()
    with pytest.raises(ValueError, match="192 finite values"):
        await nodes["t1"].enroll_speaker("tenant-a", "bad", np.ones(3, dtype=np.float32))
    assert nodes["t1"].healthy  # a refused input is the caller's error, not the node's


async def test_a_restarted_server_holds_nothing(
    servers: dict[str, TritonServer], nodes: dict[str, TritonNode]
) -> None:
    voice = embedder().embed([np.concatenate(librivox_voices()[:2])])[0]
    await nodes["t2"].enroll_speaker("tenant-a", "narrator", voice)
    await nodes["t1"].enroll_speaker("tenant-a", "narrator", voice)
    servers["t2"].kill()
    servers["t2"].restart()
    assert await nodes["t2"].check()
    assert await nodes["t2"].enrolled_speakers() == frozenset()
    assert await nodes["t1"].enrolled_speakers() == {("tenant-a", "narrator")}
    assert await nodes["t1"].evict_speaker("tenant-a", "narrator")


async def test_diarization_over_the_wire_is_the_in_process_engines(nodes: dict[str, TritonNode]) -> None:
    from scaiecho_module.engines.diarization import Diarizer
    from tests.support import recordings

    audio = recordings.read_pcm(recordings.conversation())
    remote = await nodes["t2"].diarize(audio)
    local = Diarizer(embedder()).diarize(audio)
    assert remote.speakers == local.speakers == 2
    assert [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in remote.exclusive] == [
        (t.speaker, round(t.start, 2), round(t.end, 2)) for t in local.exclusive
    ]
    assert np.allclose(remote.centroids, local.centroids, atol=1e-3)
    assert (await nodes["t2"].diarize(np.zeros(8000, dtype=np.float32))).speakers == 0
    assert nodes["t2"].healthy


async def test_segmentation_over_the_wire_is_the_in_process_engines(nodes: dict[str, TritonNode]) -> None:
    from scaiecho_module.engines.segmentation import LocalSegmenter
    from tests.support import recordings

    call = recordings.read_pcm(recordings.conversation()).astype(np.float32) / 32768
    chunk = call[5 * 16000 : 15 * 16000]  # the call's short turns: a live final's chunk
    remote = await nodes["t2"].segment_speakers(chunk)
    assert remote == LocalSegmenter().local_turns(chunk)
    assert len({t.speaker for t in remote}) == 2 and len(remote) >= 4
    assert await nodes["t2"].segment_speakers(np.zeros(8000, dtype=np.float32)) == ()
    assert nodes["t2"].healthy
