"""The in-process node: Backend A's embedded default, the engine loaded in this process."""

from __future__ import annotations

from collections.abc import Mapping

import anyio.to_thread
import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.node import (
    Capability,
    Diarization,
    Embedding,
    NodeFailedError,
    NodeKind,
    SpeakerMatch,
    SpeakerTurn,
    VoiceWindows,
)
from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.priority import Priority, PrioritySlots, Rank
from scaiecho_module.engines.diarization import LazyDiarizer
from scaiecho_module.engines.segmentation import LocalSegmenter
from scaiecho_module.engines.speaker_embedding import SpeakerEmbedder
from scaiecho_module.engines.speaker_library import SpeakerLibrary
from scaiecho_module.engines.stt import SttEngine
from scaiecho_module.transcript import DecodeOptions, Transcript


class InProcessNode:
    """The engine loaded in this process, run on a worker thread.

    One request at a time reaches the engine (it already uses every configured CPU thread);
    the others wait, most latency-sensitive first, without blocking the event loop. The node
    is ready for as long as the process runs: there is nothing to poll.

    With a ``speaker`` engine it also serves capability ``speaker``: embeddings run behind the
    same slots as transcription (they share the CPU); the enrolled embeddings live in this
    process's memory, per tenant, and are gone when it exits.
    """

    kind = NodeKind.IN_PROCESS

    def __init__(
        self,
        node_id: str,
        engine: SttEngine,
        concurrency: int = 1,
        speaker: SpeakerEmbedder | None = None,
    ) -> None:
        self.node_id = node_id
        self._engine = engine
        self._speaker = speaker
        self._library = SpeakerLibrary()
        self._diarizer = None if speaker is None else LazyDiarizer(speaker)
        self._segmenter = LocalSegmenter()  # loads on first use
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
        if self._speaker is None:
            return frozenset({Capability.STT})
        return frozenset({Capability.STT, Capability.SPEAKER})

    def known_capabilities(self) -> frozenset[Capability]:
        return self.capabilities()

    def readiness(self) -> Mapping[str, bool]:
        models = {self._engine.model_name: True}
        if self._speaker is not None:
            models[self._speaker.model_name] = True
        return models

    @property
    def state(self) -> NodeState:
        return NodeState(True, None, self.readiness())

    def apply(self, state: NodeState) -> None:
        """Nothing another process sees applies to this process's own engine."""

    async def check(self) -> bool:
        return True

    async def transcribe(
        self,
        audio: AudioArray,
        language: str | None,
        priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> Transcript:
        self._in_flight += 1
        try:
            async with self._slots.acquire(priority):
                return await anyio.to_thread.run_sync(self._engine.transcribe, audio, language, options)
        finally:
            self._in_flight -= 1

    # Capability ``speaker``.

    def _speaker_engine(self) -> SpeakerEmbedder:
        if self._speaker is None:
            raise NodeFailedError(f"node {self.node_id} has no speaker engine")
        return self._speaker

    async def embed_voice(
        self, audio: AudioArray, priority: Rank = Priority.SYNC, voice: bool = True
    ) -> VoiceWindows:
        speaker = self._speaker_engine()
        if not voice:  # windows only: a live labeller's block, whose finals segment soon
            self._segmenter.warm()
        self._in_flight += 1
        try:
            async with self._slots.acquire(priority):
                return await anyio.to_thread.run_sync(lambda: speaker.voice_windows(audio, voice=voice))
        finally:
            self._in_flight -= 1

    async def diarize(self, audio: AudioArray, priority: Priority = Priority.SYNC) -> Diarization:
        self._speaker_engine()
        assert self._diarizer is not None  # set with the speaker engine
        diarizer = self._diarizer
        self._in_flight += 1
        try:
            # Behind the same slots as transcription: they share the CPU.
            async with self._slots.acquire(priority):
                return await anyio.to_thread.run_sync(lambda: diarizer.get().diarize(audio))
        finally:
            self._in_flight -= 1

    async def segment_speakers(
        self, audio: AudioArray, priority: Rank = Priority.SYNC
    ) -> tuple[SpeakerTurn, ...]:
        self._speaker_engine()
        segmenter = self._segmenter
        self._in_flight += 1
        try:
            await anyio.to_thread.run_sync(segmenter.load)  # outside the slot: seconds, once
            async with self._slots.acquire(priority):
                return await anyio.to_thread.run_sync(segmenter.local_turns, audio)
        finally:
            self._in_flight -= 1

    async def enroll_speaker(self, tenant_id: str, speaker_id: str, embedding: Embedding) -> None:
        self._speaker_engine()
        self._library.enroll(tenant_id, speaker_id, embedding)

    async def evict_speaker(self, tenant_id: str, speaker_id: str) -> bool:
        return self._library.evict(tenant_id, speaker_id)

    async def enrolled_speakers(self) -> frozenset[tuple[str, str]]:
        return self._library.enrolled()

    async def match_speakers(
        self, tenant_id: str, vectors: npt.NDArray[np.float32], threshold: float
    ) -> list[SpeakerMatch]:
        self._speaker_engine()
        return self._library.match(tenant_id, vectors, threshold)

    async def close(self) -> None:
        return None
