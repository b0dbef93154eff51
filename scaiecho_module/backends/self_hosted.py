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
import time
from collections.abc import Sequence

from scaiecho_module import metrics
from scaiecho_module.backends.base import BackendTranscript
from scaiecho_module.backends.node_health import HealthBoard, LocalBoard, NodeState
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

    def __init__(
        self, nodes: Sequence[SttNode], stream: StreamSettings | None = None, board: HealthBoard | None = None
    ) -> None:
        self.nodes = list(nodes)
        self._by_id = {node.node_id: node for node in self.nodes if isinstance(node, TritonNode)}
        self._board = board or LocalBoard()
        self._stream = stream or StreamSettings()
        self._poller: asyncio.Task[None] | None = None

    async def open_stream(self, language: str | None, chunk_seconds: float) -> VadRecognizer:
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
            transcript = await self._timed(node, audio, language, priority)
        except NodeFailedError:
            # Once, on another node: the failed one is already marked unhealthy (here and, with
            # a shared board, in every API process).
            await self._publish({node.node_id: NodeState(False, node.last_error)})
            node = self.pick(exclude=frozenset({node.node_id}))
            try:
                transcript = await self._timed(node, audio, language, priority)
            except NodeFailedError as exc:
                await self._publish({node.node_id: NodeState(False, node.last_error)})
                raise ScaiEchoError(
                    BACKEND_UNAVAILABLE, "self-hosted STT nodes failed", {"backend": "A"}
                ) from exc
        return BackendTranscript(transcript, self.backend_id, node.node_id, node.model)

    async def _timed(
        self, node: SttNode, audio: AudioArray, language: str | None, priority: Priority
    ) -> Transcript:
        started = time.perf_counter()
        try:
            transcript = await node.transcribe(audio, language, priority)
        except NodeFailedError:
            metrics.NODE_FAILURES.labels(node.node_id).inc()
            raise
        metrics.NODE_REQUEST_SECONDS.labels(node.node_id).observe(time.perf_counter() - started)
        return transcript

    async def start(self, poll_seconds: float) -> None:
        remote = self._remote()
        if not remote:
            return
        await asyncio.gather(*(node.check() for node in remote))
        await self._publish({node.node_id: node.state for node in remote})
        self._poller = asyncio.create_task(self._poll_forever(remote, poll_seconds))

    async def _poll_forever(self, remote: list[TritonNode], poll_seconds: float) -> None:
        # With a shared board, states written by other processes are read about once a second
        # (a node another process saw fail is avoided here too); the lease holder polls.
        tick = min(poll_seconds, 1.0) if self._board.shared else poll_seconds
        next_poll = asyncio.get_running_loop().time() + poll_seconds
        while True:
            await asyncio.sleep(tick)
            # One node's (or Redis's) odd failure must never end the poller: nodes could not recover.
            try:
                if asyncio.get_running_loop().time() >= next_poll:
                    next_poll += poll_seconds
                    if await self._holds_lease(poll_seconds):
                        await self._check(remote)
                        await self._publish({node.node_id: node.state for node in remote})
                if self._board.shared:
                    for node_id, state in (await self._board.read()).items():
                        if node_id in self._by_id:
                            self._by_id[node_id].apply(state)
            except Exception:
                logger.exception("updating the node states failed")

    async def _holds_lease(self, poll_seconds: float) -> bool:
        try:
            return await self._board.take_poller_lease(poll_seconds)
        except Exception:
            logger.exception("the node board is unreachable; polling the nodes from this process")
            return True

    async def _check(self, remote: list[TritonNode]) -> None:
        results = await asyncio.gather(*(node.check() for node in remote), return_exceptions=True)
        for node, result in zip(remote, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("polling node %s failed", node.node_id, exc_info=result)

    async def _publish(self, states: dict[str, NodeState]) -> None:
        try:
            await self._board.publish(states)
        except Exception:
            logger.exception("publishing node states failed")

    def _remote(self) -> list[TritonNode]:
        return [node for node in self.nodes if isinstance(node, TritonNode)]

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for node in self.nodes:
            if isinstance(node, TritonNode):
                await node.close()
        await self._board.close()
