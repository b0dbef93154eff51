"""The in-process node: Backend A's embedded default, the engine loaded in this process."""

from __future__ import annotations

from collections.abc import Mapping

import anyio.to_thread
import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.node import (
    Capability,
    Embedding,
    NodeFailedError,
    NodeKind,
    SpeakerMatch,
    VoiceWindows,
)
from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.priority import Priority, PrioritySlots
from scaiecho_module.engines.stt import SttEngine
from scaiecho_module.transcript import Transcript


class InProcessNode:
    """The engine loaded in this process, run on a worker thread.

    One request at a time reaches the engine (it already uses every configured CPU thread);
    the others wait, most latency-sensitive first, without blocking the event loop. The node
    is ready for as long as the process runs: there is nothing to poll.
    """

    kind = NodeKind.IN_PROCESS

    def __init__(self, node_id: str, engine: SttEngine, concurrency: int = 1) -> None:
        self.node_id = node_id
        self._engine = engine
        self._slots = PrioritySlots(concurrency)
        self._in_flight = 0
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return True

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def model(self) -> str:
        return self._engine.model_name

    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.STT})

    def readiness(self) -> Mapping[str, bool]:
        return {self._engine.model_name: True}

    @property
    def state(self) -> NodeState:
        return NodeState(True, None, self.readiness())

    def apply(self, state: NodeState) -> None:
        """Nothing another process sees applies to this process's own engine."""

    async def check(self) -> bool:
        return True

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> Transcript:
        self._in_flight += 1
        try:
            async with self._slots.acquire(priority):
                return await anyio.to_thread.run_sync(self._engine.transcribe, audio, language)
        finally:
            self._in_flight -= 1

    # Capability ``speaker``: not served by this node yet (it does not declare the capability).

    async def embed_voice(self, audio: AudioArray) -> VoiceWindows:
        raise NodeFailedError("no speaker engine on this node")

    async def enroll_speaker(self, tenant_id: str, speaker_id: str, embedding: Embedding) -> None:
        raise NodeFailedError("no speaker engine on this node")

    async def evict_speaker(self, tenant_id: str, speaker_id: str) -> bool:
        return False

    async def enrolled_speakers(self) -> frozenset[tuple[str, str]]:
        return frozenset()

    async def match_speakers(
        self, tenant_id: str, vectors: npt.NDArray[np.float32], threshold: float
    ) -> list[SpeakerMatch]:
        raise NodeFailedError("no speaker engine on this node")

    async def close(self) -> None:
        return None
