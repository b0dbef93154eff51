"""The speaker nodes as the speaker library uses them: embed, enroll on many, evict from all.

A node's error reaches clients as a category only (``node_failed``, ``error``): exception
texts can carry addresses, and nothing about a voice is ever put in one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.node import (
    Capability,
    Diarization,
    Embedding,
    Node,
    NodeFailedError,
    SpeakerMatch,
    SpeakerTurn,
    VoiceWindows,
)
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.priority import Priority, Rank
from scaiecho_module.errors import ScaiEchoError

logger = logging.getLogger("scaiecho.speakers")
T = TypeVar("T")


def error_category(exc: BaseException) -> str:
    return "node_failed" if isinstance(exc, NodeFailedError) else "error"


class SpeakerFleet:
    def __init__(self, pool: NodePool) -> None:
        self._pool = pool

    def candidates(self) -> list[Node]:
        """Nodes running the speaker engine now."""
        return self._pool.serving(Capability.SPEAKER)

    def known_ids(self) -> frozenset[str]:
        """Every node with a speaker model, online or not (an offline one may hold embeddings)."""
        return frozenset(n.node_id for n in self._pool.nodes if Capability.SPEAKER in n.known_capabilities())

    def candidate_ids(self) -> list[str]:
        return [node.node_id for node in self.candidates()]

    async def embed(
        self, audio: AudioArray, priority: Rank = Priority.SYNC, voice: bool = True
    ) -> VoiceWindows | None:
        """Embeddings of ``audio`` from the least busy speaker node (another once if it fails):
        windows, and with ``voice`` all of its speech; ``None`` when no speaker node is online."""
        return await self._on_one(lambda node: node.embed_voice(audio, priority, voice))

    async def segment(
        self, audio: AudioArray, priority: Rank = Priority.SYNC
    ) -> tuple[SpeakerTurn, ...] | None:
        """Local speakers' turns in ``audio`` (at most 10 s) from the least busy speaker node
        (another once if it fails); ``None`` when no speaker node is online or both failed."""
        return await self._on_one(lambda node: node.segment_speakers(audio, priority))

    def diarizing(self) -> bool:
        """Whether a speaker node is online to diarize on."""
        return bool(self.candidates())

    async def diarize(self, audio: AudioArray, priority: Priority = Priority.SYNC) -> Diarization | None:
        """Who spoke when, from the least busy speaker node (another once if it fails);
        ``None`` when no speaker node is online or both failed: the caller goes unlabelled."""
        return await self._on_one(lambda node: node.diarize(audio, priority), "diarizing")

    async def _on_one(self, call: Callable[[Node], Awaitable[T]], what: str | None = None) -> T | None:
        """``call`` on the least busy speaker node, on another once if it fails; ``None``
        when no speaker node is online or both failed (``what`` names a failure in the log)."""
        tried: set[str] = set()
        for _ in range(2):
            try:
                node = self._pool.pick(Capability.SPEAKER, exclude=frozenset(tried))
            except ScaiEchoError:
                return None
            try:
                return await call(node)
            except NodeFailedError:
                if what is not None:
                    logger.warning("%s on node %s failed", what, node.node_id)
                await self._pool.failed(node)
                tried.add(node.node_id)
        return None

    async def match(
        self, tenant_id: str, vectors: npt.NDArray[np.float32], threshold: float
    ) -> list[SpeakerMatch] | None:
        """Each row's best match over every speaker node (``None`` when none is online).

        Asked of all of them, not one: an enrollment may have reached only some nodes (the
        reconciler catches the others up later), and a row is named by whichever holds it.
        A failing node is skipped; only the tenant's own library is searched on each.
        """

        async def call(node: Node) -> list[SpeakerMatch]:
            return await node.match_speakers(tenant_id, vectors, threshold)

        outcome = await self._pool.broadcast(Capability.SPEAKER, call)
        for node_id, exc in outcome.errors.items():
            logger.warning("matching speakers on node %s failed (%s)", node_id, error_category(exc))
        if not outcome.results:
            return None
        best: list[SpeakerMatch] = [SpeakerMatch(None, -1.0) for _ in range(len(vectors))]
        for matches in outcome.results.values():
            for row, found in enumerate(matches):
                current = best[row]
                named, held = found.speaker_id is not None, current.speaker_id is not None
                # A named match beats an unnamed one; among equals the higher score wins.
                if (named and not held) or (named == held and found.score > current.score):
                    best[row] = found
        return best

    async def enroll(
        self, tenant_id: str, speaker_id: str, embedding: Embedding, node_ids: Iterable[str] | None = None
    ) -> dict[str, str | None]:
        """Enroll on every candidate (or those of ``node_ids``): node id -> ``None`` or an error."""
        targets = None if node_ids is None else frozenset(node_ids)

        async def call(node: Node) -> bool:
            if targets is not None and node.node_id not in targets:
                return False
            await node.enroll_speaker(tenant_id, speaker_id, embedding)
            return True

        outcome = await self._pool.broadcast(Capability.SPEAKER, call)
        result: dict[str, str | None] = {node_id: None for node_id, done in outcome.results.items() if done}
        for node_id, exc in outcome.errors.items():
            logger.warning("enrolling a speaker on node %s failed (%s)", node_id, error_category(exc))
            result[node_id] = error_category(exc)
        return result

    async def evict(self, tenant_id: str, speaker_id: str) -> tuple[list[str], dict[str, str]]:
        """Evict from every candidate: (node ids that answered, node id -> error category)."""

        async def call(node: Node) -> bool:
            return await node.evict_speaker(tenant_id, speaker_id)

        outcome = await self._pool.broadcast(Capability.SPEAKER, call)
        errors = {node_id: error_category(exc) for node_id, exc in outcome.errors.items()}
        return sorted(outcome.results), errors
