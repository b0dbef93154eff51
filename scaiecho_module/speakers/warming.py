"""Warm speaker nodes: put a profile's embedding on nodes, by request or by the reconciler.

The embedding is never stored: it is computed again from the reference recording whenever a
node needs it. Every write to a node is followed by a fresh read of the tombstone, and an
erasure tombstones before it evicts, so whichever runs second removes the embedding: an
erasure racing an enrollment, a warm or a reconcile never leaves an embedding behind.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import anyio.to_thread

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.backends.node import Embedding, VoiceWindows
from scaiecho_module.config import SpeakerSettings
from scaiecho_module.host_contract import BlobStore
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.models import SpeakerProfile
from scaiecho_module.speakers.registry import WarmRegistry
from scaiecho_module.speakers.store import SpeakerStore

logger = logging.getLogger("scaiecho.speakers")


@dataclass(frozen=True, slots=True)
class NodeResult:
    node_id: str
    ok: bool
    error: str | None = None


class Warmer:
    def __init__(
        self,
        store: SpeakerStore,
        blobs: BlobStore,
        fleet: SpeakerFleet,
        registry: WarmRegistry,
        settings: SpeakerSettings,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.fleet = fleet
        self.registry = registry
        self._settings = settings

    async def load_windows(self, key: str | None) -> VoiceWindows | None:
        """Embeddings of a stored recording, from a speaker node (``None``: no node, or no blob)."""
        if key is None:
            return None
        with tempfile.TemporaryFile() as spool:
            try:
                if not await self._blobs.get_to_file(key, spool):
                    return None
            except Exception:
                # Gone: an erasure deleted it after this profile was read (each blob store
                # says so in its own exception). Nothing to enroll.
                logger.info("a speaker's reference recording is no longer stored")
                return None
            spool.seek(0)
            audio = await anyio.to_thread.run_sync(decode_file, spool, self._settings.max_recording_seconds)
        return await self.fleet.embed(audio)

    async def enroll_checked(
        self, tenant_id: str, speaker_id: uuid.UUID, embedding: Embedding, node_ids: Iterable[str] | None
    ) -> list[NodeResult]:
        """Enroll on nodes and record them warm, then undo it all if the speaker was erased meanwhile."""
        outcome = await self.fleet.enroll(tenant_id, str(speaker_id), embedding, node_ids)
        for node_id, error in outcome.items():
            if error is None:
                await self.registry.add(tenant_id, str(speaker_id), node_id)
        if await self._store.erased(speaker_id):
            await self.fleet.evict(tenant_id, str(speaker_id))
            await self.registry.clear(tenant_id, str(speaker_id))
            return [NodeResult(node_id, False, "erased") for node_id in sorted(outcome)]
        return [NodeResult(node_id, error is None, error) for node_id, error in sorted(outcome.items())]

    async def warm(self, profile: SpeakerProfile, node_ids: Iterable[str] | None) -> list[NodeResult]:
        """Re-enroll the profile on the candidates (all of them when ``node_ids`` is None)."""
        candidates = set(self.fleet.candidate_ids())
        wanted = candidates if node_ids is None else set(node_ids)
        refused = [NodeResult(node_id, False, "not_a_candidate") for node_id in sorted(wanted - candidates)]
        targets = wanted & candidates
        if not targets:
            return refused
        windows = await self.load_windows(profile.reference_blob_key)
        if windows is None or windows.voice is None:
            return refused + [NodeResult(node_id, False, "no_embedding") for node_id in sorted(targets)]
        results = await self.enroll_checked(profile.tenant_id, profile.id, windows.voice, targets)
        return sorted(refused + results, key=lambda result: result.node_id)
