"""The in-process node serving capability ``speaker`` on the real engine and real voices."""

from __future__ import annotations

import numpy as np
import pytest

from scaiecho_module.backends.node import Capability, NodeFailedError
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.config import SttModelSettings
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import resolve_model_dir
from tests.support.speakers import conversation_voices, embedder, librivox_voices

THRESHOLD = 0.5


@pytest.fixture(scope="module")
def stt() -> WhisperEngine:
    options = WhisperOptions(cpu_threads=1, beam_size=1)
    return WhisperEngine(resolve_model_dir(SttModelSettings(name="tiny.en")), "whisper-tiny.en", options)


@pytest.fixture
def node(stt: WhisperEngine) -> InProcessNode:
    return InProcessNode("in-process", stt, speaker=embedder())


async def test_node_with_the_speaker_engine_declares_speaker(node: InProcessNode, stt: WhisperEngine) -> None:
    assert node.capabilities() == {Capability.STT, Capability.SPEAKER}
    assert node.readiness() == {"whisper-tiny.en": True, "campplus-192": True}
    bare = InProcessNode("bare", stt)
    assert bare.capabilities() == {Capability.STT}
    with pytest.raises(NodeFailedError):
        await bare.embed_voice(np.zeros(16000, dtype=np.float32))
    with pytest.raises(NodeFailedError):
        await bare.enroll_speaker("t1", "spk", np.ones(192, dtype=np.float32))


async def test_enrolled_speaker_is_matched_then_evicted(node: InProcessNode) -> None:
    narrator = librivox_voices()
    reference = await node.embed_voice(np.concatenate(narrator[:2]))
    assert reference.voice is not None
    await node.enroll_speaker("t1", "narrator", reference.voice)
    assert await node.enrolled_speakers() == {("t1", "narrator")}

    later = await node.embed_voice(np.concatenate(narrator[3:]))
    stranger = await node.embed_voice(np.concatenate(conversation_voices()["speaker91"]))
    assert later.voice is not None and stranger.voice is not None
    found = await node.match_speakers("t1", np.stack([later.voice, stranger.voice]), THRESHOLD)
    assert found[0].speaker_id == "narrator" and found[0].score > 0.7
    # An unknown voice is not forced onto the enrolled one.
    assert found[1].speaker_id is None and found[1].score < THRESHOLD

    assert await node.evict_speaker("t1", "narrator")
    assert not await node.evict_speaker("t1", "narrator")
    assert await node.enrolled_speakers() == frozenset()
    (gone,) = await node.match_speakers("t1", later.voice[None, :], THRESHOLD)
    assert gone.speaker_id is None


async def test_matching_searches_only_the_callers_tenant(node: InProcessNode) -> None:
    voice = embedder().embed([np.concatenate(librivox_voices()[:2])])[0]
    await node.enroll_speaker("tenant-a", "narrator", voice)
    (other,) = await node.match_speakers("tenant-b", voice[None, :], THRESHOLD)
    assert other.speaker_id is None
    (own,) = await node.match_speakers("tenant-a", voice[None, :], THRESHOLD)
    assert own.speaker_id == "narrator"
    # Evicting in another tenant does not touch this one's speaker of the same id.
    assert not await node.evict_speaker("tenant-b", "narrator")
    assert await node.enrolled_speakers() == {("tenant-a", "narrator")}


async def test_a_malformed_embedding_is_refused(node: InProcessNode) -> None:
    with pytest.raises(ValueError, match="192 finite values"):
        await node.enroll_speaker("t1", "x", np.ones(10, dtype=np.float32))
    with pytest.raises(ValueError, match="192 finite values"):
        await node.enroll_speaker("t1", "x", np.full(192, np.nan, dtype=np.float32))
    assert await node.enrolled_speakers() == frozenset()
