"""Backend A: a pool of self-hosted STT nodes."""

from __future__ import annotations

from collections.abc import Sequence

from scaiecho_module.backends.base import BackendTranscript
from scaiecho_module.backends.nodes import SttNode
from scaiecho_module.backends.priority import Priority
from scaiecho_module.config import StreamSettings
from scaiecho_module.engines.stt import AudioArray, Transcript
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.streaming.recognizer import VadRecognizer


class SelfHostedBackend:
    backend_id = "A"

    def __init__(self, nodes: Sequence[SttNode], stream: StreamSettings | None = None) -> None:
        self.nodes = list(nodes)
        self._stream = stream or StreamSettings()

    def open_stream(self, language: str | None, chunk_seconds: float) -> VadRecognizer:
        async def transcribe(audio: AudioArray, priority: Priority) -> Transcript:
            return (await self.transcribe(audio, language, priority)).transcript

        def idle() -> bool:
            return any(node.healthy and node.in_flight == 0 for node in self.nodes)

        return VadRecognizer(
            transcribe, chunk_seconds, self._stream.partial_interval, self._stream.min_silence, node_idle=idle
        )

    def available(self) -> bool:
        return any(node.healthy for node in self.nodes)

    def pick(self) -> SttNode:
        healthy = [node for node in self.nodes if node.healthy]
        if not healthy:
            raise ScaiEchoError(BACKEND_UNAVAILABLE, "no healthy self-hosted STT node", {"backend": "A"})
        return min(healthy, key=lambda node: node.in_flight)

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> BackendTranscript:
        node = self.pick()
        transcript = await node.transcribe(audio, language, priority)
        return BackendTranscript(transcript, self.backend_id, node.node_id, node.model)
