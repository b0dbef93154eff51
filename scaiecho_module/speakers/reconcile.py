"""The reconciler: make every speaker node hold exactly the live library, without being asked.

Each pass asks every speaker node what it holds (``enrolled_speakers``) and compares it with
the database:

- a live profile a node lacks (the node restarted and lost its memory, or joined) is
  enrolled there again from the stored reference recording;
- an id a node holds that is erased, or unknown, is evicted (a node down during an erasure);
- a profile enrolled with no node online has its deferred voice checks run first, and fails
  instead of enrolling if they fail;
- the warm registry is set to what the nodes confirmed, and statuses follow: ``ready`` when a
  node holds it, ``evicted`` when it was ready and no node holds it any more.

Every API process may run it: each step is idempotent, and erasure's tombstone-then-evict
order makes a concurrent pass harmless.
"""

from __future__ import annotations

import logging

from scaiecho_module.backends.node import Node
from scaiecho_module.speakers import preflight as pf
from scaiecho_module.speakers.erasure import ErasureService
from scaiecho_module.speakers.fleet import error_category
from scaiecho_module.speakers.models import EnrollmentStatus, SpeakerProfile
from scaiecho_module.speakers.store import SpeakerStore
from scaiecho_module.speakers.warming import Warmer

logger = logging.getLogger("scaiecho.speakers")


def _deferred(profile: SpeakerProfile) -> bool:
    """Whether the voice checks of this profile's preflight still wait for a speaker node."""
    checks = (profile.preflight or {}).get("checks", [])
    return any(check.get("verdict") == pf.Verdict.NOT_CHECKED for check in checks)


class Reconciler:
    def __init__(self, store: SpeakerStore, warmer: Warmer, erasures: ErasureService) -> None:
        self._store = store
        self._warmer = warmer
        self._erasures = erasures
        self.limits = pf.Thresholds()

    async def run_once(self) -> None:
        await self._erasures.finish_unfinished()
        nodes = self._warmer.fleet.candidates()
        held: dict[str, frozenset[tuple[str, str]]] = {}
        for node in nodes:
            try:
                held[node.node_id] = await node.enrolled_speakers()
            except Exception as exc:
                logger.warning("node %s did not list its speakers (%s)", node.node_id, error_category(exc))
        live = {str(p.id): p for p in await self._store.all_live()}
        await self._evict_strays(nodes, held, live)
        for profile in live.values():
            if profile.status == EnrollmentStatus.FAILED and profile.status_code != "NO_NODE_ACCEPTED":
                continue  # refused by a check: nothing to enroll
            await self._warm_profile(profile, nodes, held)

    async def _evict_strays(
        self, nodes: list[Node], held: dict[str, frozenset[tuple[str, str]]], live: dict[str, SpeakerProfile]
    ) -> None:
        for node in nodes:
            for tenant_id, speaker_id in held.get(node.node_id, frozenset()):
                profile = live.get(speaker_id)
                if profile is not None and profile.tenant_id == tenant_id:
                    continue
                try:
                    await node.evict_speaker(tenant_id, speaker_id)
                    logger.info("evicted an erased or unknown speaker from node %s", node.node_id)
                except Exception as exc:
                    logger.warning("evicting from node %s failed (%s)", node.node_id, error_category(exc))

    async def _warm_profile(
        self, profile: SpeakerProfile, nodes: list[Node], held: dict[str, frozenset[tuple[str, str]]]
    ) -> None:
        key = (profile.tenant_id, str(profile.id))
        holding = {node_id for node_id, items in held.items() if key in items}
        lacking = [node.node_id for node in nodes if node.node_id in held and node.node_id not in holding]
        if lacking:
            if _deferred(profile) and not await self._run_deferred_checks(profile):
                return
            windows = await self._warmer.load_windows(profile.reference_blob_key)
            if windows is not None and windows.voice is not None:
                results = await self._warmer.enroll_checked(
                    profile.tenant_id, profile.id, windows.voice, lacking
                )
                holding |= {result.node_id for result in results if result.ok}
        for node_id in held:
            if node_id not in holding:
                await self._warmer.registry.discard(profile.tenant_id, str(profile.id), node_id)
            else:
                await self._warmer.registry.add(profile.tenant_id, str(profile.id), node_id)
        if await self._store.erased(profile.id):
            return
        if holding and profile.status != EnrollmentStatus.READY:
            await self._store.set_status(profile.id, EnrollmentStatus.READY)
        elif not holding and profile.status == EnrollmentStatus.READY:
            await self._store.set_status(profile.id, EnrollmentStatus.EVICTED)

    async def _run_deferred_checks(self, profile: SpeakerProfile) -> bool:
        """The voice checks a node-less enrollment could not run; a failure fails the profile."""
        reference = await self._warmer.load_windows(profile.reference_blob_key)
        consent = await self._warmer.load_windows(profile.consent_blob_key)
        if reference is None or consent is None:
            return False
        checks, _ = pf.voice_checks(reference, consent, self.limits)
        failed = pf.first_failure(checks)
        if failed is not None:
            await self._store.set_status(profile.id, EnrollmentStatus.FAILED, failed.kind.code)
            return False
        await self._store.mark_checked(profile.id, [check.view() for check in checks])
        return True
