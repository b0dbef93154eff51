"""SpeakerService: enroll a speaker (preflight, consent, fan-out), show, list and warm profiles.

Order of an enrollment (nothing left over): every check runs on the decoded audio in memory,
so a refused enrollment stores nothing; then both recordings go to the blob store, then the
profile, its consent record and the audit event commit together (blobs deleted if that
fails), then the embedding fans out to every speaker node.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import IO, Any

import anyio.to_thread
from sqlalchemy.exc import IntegrityError

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.self_hosted import SelfHostedBackend
from scaiecho_module.config import SpeakerSettings
from scaiecho_module.errors import SPEAKER_NAME_TAKEN, ScaiEchoError
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.speakers import preflight as pf
from scaiecho_module.speakers.consent import text_match
from scaiecho_module.speakers.models import ConsentRecord, EnrollmentStatus, SpeakerProfile
from scaiecho_module.speakers.store import SpeakerStore, blob_key
from scaiecho_module.speakers.warming import NodeResult, Warmer

NO_NODE_NOTE = (
    "no speaker node is online: the profile is recorded as pending and becomes ready by itself "
    "when a speaker node comes online"
)


@dataclass(frozen=True, slots=True)
class EnrollmentForm:
    display_name: str
    language_primary: str | None
    description: str | None
    consent_user_full_name: str
    consent_stated_purpose: str
    consent_text: str


@dataclass(frozen=True, slots=True)
class Enrollment:
    profile: SpeakerProfile
    enrolled_on: list[str]
    note: str | None
    node_results: list[NodeResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WarmState:
    warm_node_ids: list[str]
    candidate_node_ids: list[str]
    stale_node_ids: list[str]


def _refuse(failed: pf.Check, block: dict[str, Any]) -> ScaiEchoError:
    return ScaiEchoError(
        failed.kind,
        f"{failed.recording} recording: {failed.reason}",
        {"check": failed.name, "recording": failed.recording, "preflight": block},
    )


class SpeakerService:
    def __init__(self, host: Host, settings: SpeakerSettings, stt: SelfHostedBackend, warmer: Warmer) -> None:
        self._host = host
        self._settings = settings
        self._stt = stt
        self._warmer = warmer
        self.store = SpeakerStore(host.database.session_factory)
        self.limits = pf.Thresholds()

    @property
    def upload_limit(self) -> int:
        """The largest recording file ``POST /speakers`` takes (each)."""
        return self._settings.max_upload_bytes

    async def _decode(self, source: IO[bytes]) -> AudioArray:
        return await anyio.to_thread.run_sync(decode_file, source, self._settings.max_recording_seconds)

    async def preflight(
        self, form: EnrollmentForm, reference_audio: AudioArray, consent_audio: AudioArray
    ) -> tuple[dict[str, Any], pf.Measures, Any, float]:
        """Every check, in memory. Raises the first failure's 422 with the whole block."""
        ref = await anyio.to_thread.run_sync(pf.measure, reference_audio)
        con = await anyio.to_thread.run_sync(pf.measure, consent_audio)
        checks = pf.audio_checks("reference", ref, self.limits) + pf.audio_checks("consent", con, self.limits)
        failed = pf.first_failure(checks)
        if failed is not None:
            raise _refuse(failed, pf.preflight_view(ref, con, checks))
        heard = await self._stt.transcribe(consent_audio, form.language_primary)
        score = text_match(form.consent_text, heard.transcript.text)
        checks.append(pf.text_check(score, self.limits))
        ref_windows = await self._warmer.fleet.embed(reference_audio)
        con_windows = await self._warmer.fleet.embed(consent_audio) if ref_windows is not None else None
        voice, voices = pf.voice_checks(ref_windows, con_windows, self.limits)
        checks += voice
        ref = pf.Measures(**{**ref.view(), "voices": voices})
        block = pf.preflight_view(ref, con, checks)
        failed = pf.first_failure(checks)
        if failed is not None:
            raise _refuse(failed, block)
        return block, ref, ref_windows, score

    async def enroll(
        self,
        principal: Principal,
        form: EnrollmentForm,
        reference: IO[bytes],
        consent: IO[bytes],
    ) -> tuple[Enrollment, dict[str, Any]]:
        reference_audio = await self._decode(reference)
        consent_audio = await self._decode(consent)
        block, _, ref_windows, score = await self.preflight(form, reference_audio, consent_audio)
        speaker_id = uuid.uuid4()
        keys = {name: blob_key(principal.tenant_id, speaker_id, name) for name in ("reference", "consent")}
        sizes: dict[str, int] = {}
        try:
            for name, source in (("reference", reference), ("consent", consent)):
                source.seek(0)
                sizes[name] = await self._host.blobs.put(keys[name], source)
            profile = await self._persist(principal, form, speaker_id, keys, sizes, block, score)
        except BaseException:
            for key in keys.values():  # no profile, no recordings
                await self._host.blobs.delete(key)
            raise
        if ref_windows is None or ref_windows.voice is None:
            return Enrollment(profile, [], NO_NODE_NOTE), block
        results = await self._warmer.enroll_checked(principal.tenant_id, speaker_id, ref_windows.voice, None)
        enrolled_on = [result.node_id for result in results if result.ok]
        if not results:
            return Enrollment(profile, [], NO_NODE_NOTE, results), block
        status = EnrollmentStatus.READY if enrolled_on else EnrollmentStatus.FAILED
        await self.store.set_status(speaker_id, status, None if enrolled_on else "NO_NODE_ACCEPTED")
        try:
            profile = await self.store.live(principal.tenant_id, str(speaker_id))
        except ScaiEchoError:
            # Erased while it fanned out: the erasure won, and the embedding was evicted again.
            profile.status, enrolled_on = EnrollmentStatus.EVICTED, []
        return Enrollment(profile, enrolled_on, None, results), block

    async def _persist(
        self,
        principal: Principal,
        form: EnrollmentForm,
        speaker_id: uuid.UUID,
        keys: dict[str, str],
        sizes: dict[str, int],
        block: dict[str, Any],
        score: float,
    ) -> SpeakerProfile:
        profile = SpeakerProfile(
            id=speaker_id,
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            display_name=form.display_name,
            language_primary=form.language_primary,
            description=form.description,
            status=EnrollmentStatus.PENDING,
            reference_blob_key=keys["reference"],
            consent_blob_key=keys["consent"],
            reference_bytes=sizes["reference"],
            consent_bytes=sizes["consent"],
            preflight=block,
        )
        record = ConsentRecord(
            id=uuid.uuid4(),
            tenant_id=principal.tenant_id,
            speaker_id=speaker_id,
            recorded_by_user_id=principal.user_id,
            user_full_name=form.consent_user_full_name,
            stated_purpose=form.consent_stated_purpose,
            consent_text=form.consent_text,
            text_match=round(score, 4),
        )
        event = AuditEvent(
            principal.tenant_id,
            principal.user_id,
            "scaiecho.speaker.enroll",
            str(speaker_id),
            {"bytes": sum(sizes.values()), "consent_id": str(record.id)},
        )
        try:
            async with self.store.sessions.begin() as session:
                session.add(profile)
                await session.flush()  # the profile first: the consent row references it
                session.add(record)
                await self._host.audit.record(event, session=session)
        except IntegrityError as exc:
            # SQLite names the columns, PostgreSQL the index; other integrity errors are not a name clash.
            if not any(mark in str(exc.orig) for mark in (".display_name", "uq_scaiecho_speaker_live_name")):
                raise
            raise ScaiEchoError(
                SPEAKER_NAME_TAKEN,
                "the tenant already has a speaker with this display_name",
                {"field": "display_name"},
            ) from None
        return profile

    async def get(self, principal: Principal, speaker_id: str) -> tuple[SpeakerProfile, ConsentRecord | None]:
        profile = await self.store.live(principal.tenant_id, speaker_id)
        return profile, await self.store.consent(profile.id)

    async def page(
        self, principal: Principal, limit: int, cursor: str | None
    ) -> tuple[list[SpeakerProfile], str | None]:
        return await self.store.page(principal.tenant_id, limit, cursor)

    async def warm_state(self, principal: Principal, speaker_id: str) -> WarmState:
        profile = await self.store.live(principal.tenant_id, speaker_id)
        warm = await self._warmer.registry.members(principal.tenant_id, str(profile.id))
        candidates = self._warmer.fleet.candidate_ids()
        return WarmState(sorted(warm), sorted(candidates), sorted(warm - set(candidates)))

    async def warm(
        self, principal: Principal, speaker_id: str, node_ids: list[str]
    ) -> tuple[SpeakerProfile, list[NodeResult]]:
        """Re-enroll on ``node_ids`` (empty: every candidate); audited with the status it sets."""
        profile = await self.store.live(principal.tenant_id, speaker_id)
        results = await self._warmer.warm(profile, node_ids or None)
        ok = [result.node_id for result in results if result.ok]
        async with self.store.sessions.begin() as session:
            if ok:
                await SpeakerStore.set_status_in(session, profile.id, EnrollmentStatus.READY, None)
            await self._host.audit.record(
                AuditEvent(
                    principal.tenant_id,
                    principal.user_id,
                    "scaiecho.speaker.warm",
                    str(profile.id),
                    {"requested": sorted(node_ids), "warmed": ok},
                ),
                session=session,
            )
        return await self.store.live(principal.tenant_id, speaker_id), results
