"""Backend A: a pool of self-hosted STT nodes (the in-process node and/or Triton servers).

Requests go to a healthy node with the least in-flight work. A node that fails a request is
marked unhealthy and the request is retried once on another node, so a live session whose
node dies carries on (its utterance audio is still held by the recogniser). With no healthy
node, Backend A is unavailable and the resolver may fall back to B.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from scaiecho_module.backends.base import BackendTranscript
from scaiecho_module.backends.nodes import SttNode
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.triton_node import NodeFailedError, TritonNode
from scaiecho_module.config import StreamSettings
from scaiecho_module.engines.stt import AudioArray, Transcript
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.streaming.recognizer import VadRecognizer

logger = logging.getLogger("scaiecho.nodes")


class SelfHostedBackend:
    backend_id = "A"

    def __init__(self, nodes: Sequence[SttNode], stream: StreamSettings | None = None) -> None:
        self.nodes = list(nodes)
        self._stream = stream or StreamSettings()
        self._poller: asyncio.Task[None] | None = None

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

    def pick(self, exclude: frozenset[str] = frozenset()) -> SttNode:
        healthy = [node for node in self.nodes if node.healthy and node.node_id not in exclude]
        if not healthy:
            raise ScaiEchoError(BACKEND_UNAVAILABLE, "no healthy self-hosted STT node", {"backend": "A"})
        return min(healthy, key=lambda node: node.in_flight)

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> BackendTranscript:
        node = self.pick()
        try:
            transcript = await node.transcribe(audio, language, priority)
        except NodeFailedError:
            # Once, on another node: the failed one is already marked unhealthy.
            node = self.pick(exclude=frozenset({node.node_id}))
            try:
                transcript = await node.transcribe(audio, language, priority)
            except NodeFailedError as exc:
                raise ScaiEchoError(
                    BACKEND_UNAVAILABLE, "self-hosted STT nodes failed", {"backend": "A"}
                ) from exc
        return BackendTranscript(transcript, self.backend_id, node.node_id, node.model)

    async def start(self, poll_seconds: float) -> None:
        remote = [node for node in self.nodes if isinstance(node, TritonNode)]
        if not remote:
            return
        await asyncio.gather(*(node.check() for node in remote))

        async def poll() -> None:
            while True:
                await asyncio.sleep(poll_seconds)
                # One node's odd failure must never end the poller: nodes could not recover.
                results = await asyncio.gather(*(node.check() for node in remote), return_exceptions=True)
                for node, result in zip(remote, results, strict=True):
                    if isinstance(result, BaseException):
                        logger.error("polling node %s failed", node.node_id, exc_info=result)

        self._poller = asyncio.create_task(poll())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for node in self.nodes:
            if isinstance(node, TritonNode):
                await node.close()
