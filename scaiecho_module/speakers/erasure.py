"""GDPR Art. 17 erasure of a speaker: recordings, embedding, registry; an immutable audit.

1. Tombstone the profile (one UPDATE, only if it is live): from here no warm, enrollment or
   reconcile puts the embedding back (each re-reads the tombstone after writing to a node).
2. Forget the registry entry and evict the embedding from every speaker node online; a node
   offline now is evicted by the reconciler when it returns (it finds an erased id it holds).
3. Delete both recordings from the blob store.
4. Commit the erasure-audit row, the blob keys cleared and the host's audit event together.

A process that dies between 1 and 4 leaves a tombstone with blob keys: the reconciler
finishes that erasure (``finish``), so no recording outlives its tombstone.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update

from scaiecho_module.errors import NOT_FOUND, ScaiEchoError
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.jobs.models import utcnow
from scaiecho_module.speakers.models import EnrollmentStatus, ErasureAudit, SpeakerProfile
from scaiecho_module.speakers.store import SpeakerStore, parse_id
from scaiecho_module.speakers.warming import Warmer

logger = logging.getLogger("scaiecho.speakers")
_GRACE = timedelta(minutes=5)  # far longer than an erasure request takes


@dataclass(frozen=True, slots=True)
class Erasure:
    speaker_id: str
    audit_id: str
    blob_bytes_deleted: int
    evicted_node_ids: list[str]
    error_summary: dict[str, str]


class ErasureService:
    def __init__(self, host: Host, store: SpeakerStore, warmer: Warmer) -> None:
        self._host = host
        self._store = store
        self._warmer = warmer

    async def erase(self, principal: Principal, speaker_id: str) -> Erasure:
        parsed = parse_id(speaker_id)
        async with self._store.sessions.begin() as session:
            done = await session.execute(
                update(SpeakerProfile)
                .where(
                    SpeakerProfile.id == parsed,
                    SpeakerProfile.tenant_id == principal.tenant_id,
                    SpeakerProfile.erased_at.is_(None),
                )
                .values(
                    erased_at=utcnow(), erased_by_user_id=principal.user_id, status=EnrollmentStatus.EVICTED
                )
            )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise ScaiEchoError(NOT_FOUND, "no such speaker")
        profile = await self._tombstone(parsed)
        return await self._finish(profile, principal.user_id)

    async def _tombstone(self, speaker_id: uuid.UUID) -> SpeakerProfile:
        async with self._store.sessions() as session:
            profile = await session.get(SpeakerProfile, speaker_id)
        assert profile is not None
        return profile

    async def _finish(self, profile: SpeakerProfile, actor: str) -> Erasure:
        tenant_id, speaker_key = profile.tenant_id, str(profile.id)
        registered = await self._warmer.registry.members(tenant_id, speaker_key)
        await self._warmer.registry.clear(tenant_id, speaker_key)
        evicted, errors = await self._warmer.fleet.evict(tenant_id, speaker_key)
        # The registry lists the nodes confirmed to hold it; a reconcile pass racing a node's
        # outage can drop one that still does, so every known speaker node not reached counts.
        unreached = (registered | self._warmer.fleet.known_ids()) - set(evicted) - set(errors)
        for node_id in sorted(unreached):
            errors[node_id] = "offline; evicted when it returns"
        freed = 0
        for key in (profile.reference_blob_key, profile.consent_blob_key):
            if key is not None:
                freed += await self._host.blobs.delete(key)
        audit = ErasureAudit(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            speaker_id=profile.id,
            actor_user_id=actor,
            blob_bytes_deleted=freed,
            evicted_node_ids=evicted,
            node_errors=errors,
        )
        async with self._store.sessions.begin() as session:
            claimed = await session.execute(
                update(SpeakerProfile)
                .where(
                    SpeakerProfile.id == profile.id,
                    or_(
                        SpeakerProfile.reference_blob_key.is_not(None),
                        SpeakerProfile.consent_blob_key.is_not(None),
                    ),
                )
                .values(reference_blob_key=None, consent_blob_key=None, reference_bytes=0, consent_bytes=0)
            )
            # Zero rows: another process finished this erasure first (two reconcilers); nothing is
            # written here, and the erasure keeps its one audit row.
            claimed_it = bool(claimed.rowcount)  # type: ignore[attr-defined]
            if claimed_it:
                session.add(audit)
                await self._host.audit.record(
                    AuditEvent(
                        tenant_id,
                        actor,
                        "scaiecho.speaker.erase",
                        speaker_key,
                        {
                            "audit_id": str(audit.id),
                            "blob_bytes_deleted": freed,
                            "evicted": evicted,
                            "errors": errors,
                        },
                    ),
                    session=session,
                )
        if not claimed_it:
            return await self._recorded(profile.id, errors)
        return Erasure(speaker_key, str(audit.id), freed, evicted, errors)

    async def _recorded(self, speaker_id: uuid.UUID, errors: dict[str, str]) -> Erasure:
        async with self._store.sessions() as session:
            audit = await session.scalar(select(ErasureAudit).where(ErasureAudit.speaker_id == speaker_id))
        if audit is None:
            raise ScaiEchoError(NOT_FOUND, "no such speaker")
        return Erasure(
            str(speaker_id), str(audit.id), audit.blob_bytes_deleted, audit.evicted_node_ids, errors
        )

    async def finish_unfinished(self) -> int:
        """Complete erasures a dead process left half done (the reconciler calls this)."""
        pending = await self._store.unfinished_erasures(utcnow() - _GRACE)
        for profile in pending:
            logger.warning("finishing the interrupted erasure of speaker %s", profile.id)
            await self._finish(profile, profile.erased_by_user_id or "scaiecho:reconcile")
        return len(pending)
