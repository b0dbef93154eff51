"""Backend A: a pool of self-hosted STT nodes."""

from __future__ import annotations

from collections.abc import Sequence

from scaiecho_module.backends.base import BackendTranscript
from scaiecho_module.backends.nodes import SttNode
from scaiecho_module.engines.stt import AudioArray
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError


class SelfHostedBackend:
    backend_id = "A"

    def __init__(self, nodes: Sequence[SttNode]) -> None:
        self.nodes = list(nodes)

    def available(self) -> bool:
        return any(node.healthy for node in self.nodes)

    def pick(self) -> SttNode:
        healthy = [node for node in self.nodes if node.healthy]
        if not healthy:
            raise ScaiEchoError(BACKEND_UNAVAILABLE, "no healthy self-hosted STT node", {"backend": "A"})
        return min(healthy, key=lambda node: node.in_flight)

    async def transcribe(self, audio: AudioArray, language: str | None) -> BackendTranscript:
        node = self.pick()
        transcript = await node.transcribe(audio, language)
        return BackendTranscript(transcript, self.backend_id, node.node_id, node.model)
