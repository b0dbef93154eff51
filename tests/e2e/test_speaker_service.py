"""The speaker services as the plugin wires them, on the stub host's real classes and a real,
migrated database (SQLite and PostgreSQL): what must hold when something fails mid-way.

- an enrollment and its audit event commit together, or neither does, and then no
  recording is left in the blob store;
- an erasure whose process died after the tombstone is finished by the reconciler: the
  recordings are deleted and the erasure audit is written, by the original actor;
- races on the in-process speaker node (real CAM++ engine): a fan-out or a warm that lands
  after the erasure leaves no embedding and no registry entry; a node that lost its memory is
  warmed again by the reconciler, and one that still holds an erased speaker is evicted;
- ``SpeakerNamer`` names a voice with the tenant's live profile only: not another tenant's,
  not a stranger, and not an erased profile that a node still holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from host_stub.host import StubHost
from scaiecho_module.backends.node import Node
from scaiecho_module.config import ScaiEchoSettings, SttModelSettings
from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.models import utcnow
from scaiecho_module.runtime import ModuleRuntime, build_runtime, load_engine, load_speaker_engine
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.models import ErasureAudit, SpeakerProfile
from scaiecho_module.speakers.naming import SpeakerNamer
from scaiecho_module.speakers.service import EnrollmentForm
from scaiecho_module.transcript import Speaker
from tests.e2e.test_audit_in_transaction import (  # noqa: F401 - fixtures
    audit_actions,
    database_url,
    host,
    refuse_writes,
)
from tests.support import speakers

pytestmark = pytest.mark.both_databases

ENROLLER = frozenset({"scaiecho:enroll"})
FORM = EnrollmentForm("Elinor Reader", "en", None, "Elinor Reader", "diarization", speakers.CONSENT_TEXT)


@pytest.fixture
async def runtime(host: StubHost) -> AsyncIterator[ModuleRuntime]:  # noqa: F811
    settings = ScaiEchoSettings(stt=SttModelSettings(name="tiny.en", beam_size=1))
    built = build_runtime(host, settings, load_engine(settings), speaker=load_speaker_engine(settings))
    yield built
    await built.node_pool.close()
    await built.relays.close()


@pytest.fixture
def enroller() -> Principal:
    return Principal(str(uuid.uuid4()), str(uuid.uuid4()), ENROLLER)


def _files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _enroll(runtime: ModuleRuntime, principal: Principal, name: str | None = None) -> SpeakerProfile:
    reference = io.BytesIO(speakers.reference().read_bytes())
    consent = io.BytesIO(speakers.consent().read_bytes())
    form = FORM if name is None else dataclasses.replace(FORM, display_name=name)
    enrollment, _ = await runtime.speakers.enroll(principal, form, reference, consent)
    return enrollment.profile


@pytest.mark.parametrize(
    "refused", ["host_audit_event", "scaiecho_speaker_consent", "scaiecho_speaker_profile"]
)
async def test_enrollment_and_its_audit_are_all_or_nothing_and_leave_no_recording(
    runtime: ModuleRuntime,
    host: StubHost,  # noqa: F811
    enroller: Principal,
    tmp_path: Path,
    refused: str,
) -> None:
    await refuse_writes(host.database, refused)
    with pytest.raises(DBAPIError):
        await _enroll(runtime, enroller)
    rows = await runtime.speakers.store.page(enroller.tenant_id, 10, None)
    assert rows == ([], None)
    assert await audit_actions(host, enroller.tenant_id) == []
    assert _files(tmp_path) == []


async def test_enrollment_is_stored_with_exactly_one_audit_event(
    runtime: ModuleRuntime,
    host: StubHost,  # noqa: F811
    enroller: Principal,
    tmp_path: Path,
) -> None:
    profile = await _enroll(runtime, enroller)
    assert await audit_actions(host, enroller.tenant_id) == ["scaiecho.speaker.enroll"]
    assert {p.name for p in _files(tmp_path)} == {"reference", "consent"}
    assert profile.reference_bytes == speakers.reference().stat().st_size


async def test_reconciler_finishes_an_erasure_whose_process_died_after_the_tombstone(
    runtime: ModuleRuntime,
    host: StubHost,  # noqa: F811
    enroller: Principal,
    tmp_path: Path,
) -> None:
    profile = await _enroll(runtime, enroller)
    # What a process leaves when it dies right after step 1 of an erasure, some minutes ago.
    async with host.database.session_factory.begin() as session:
        await session.execute(
            update(SpeakerProfile)
            .where(SpeakerProfile.id == profile.id)
            .values(erased_at=utcnow() - timedelta(minutes=10), erased_by_user_id=enroller.user_id)
        )
    # A younger tombstone is left alone: its own request may still be finishing it.
    other = await _enroll(runtime, Principal(str(uuid.uuid4()), str(uuid.uuid4()), ENROLLER))
    async with host.database.session_factory.begin() as session:
        await session.execute(
            update(SpeakerProfile).where(SpeakerProfile.id == other.id).values(erased_at=utcnow())
        )
    await runtime.reconciler.run_once()
    remaining = {p.parent.name for p in _files(tmp_path)}
    assert remaining == {str(other.id)}
    async with host.database.session_factory() as session:
        row = await session.get(SpeakerProfile, profile.id)
    assert row is not None and row.reference_blob_key is None and row.consent_blob_key is None
    assert await audit_actions(host, enroller.tenant_id) == [
        "scaiecho.speaker.enroll",
        "scaiecho.speaker.erase",
    ]
    async with host.database.session_factory() as session:
        (audit,) = list(
            await session.scalars(select(ErasureAudit).where(ErasureAudit.speaker_id == profile.id))
        )
    assert audit.actor_user_id == enroller.user_id
    assert audit.blob_bytes_deleted == profile.reference_bytes + profile.consent_bytes


async def test_two_reconcilers_finishing_one_erasure_write_one_audit(
    runtime: ModuleRuntime,
    host: StubHost,  # noqa: F811
    enroller: Principal,
    tmp_path: Path,
) -> None:
    profile = await _enroll(runtime, enroller)
    async with host.database.session_factory.begin() as session:
        await session.execute(
            update(SpeakerProfile)
            .where(SpeakerProfile.id == profile.id)
            .values(erased_at=utcnow() - timedelta(minutes=10), erased_by_user_id=enroller.user_id)
        )
    await asyncio.gather(runtime.erasures.finish_unfinished(), runtime.erasures.finish_unfinished())
    async with host.database.session_factory() as session:
        query = select(ErasureAudit).where(ErasureAudit.speaker_id == profile.id)
        assert len(list(await session.scalars(query))) == 1
    assert (await audit_actions(host, enroller.tenant_id)).count("scaiecho.speaker.erase") == 1
    assert _files(tmp_path) == []


def _node(runtime: ModuleRuntime) -> Node:
    (node,) = runtime.node_pool.nodes
    return node


async def test_erasure_evicts_the_embedding_from_node_memory_and_the_registry(
    runtime: ModuleRuntime, enroller: Principal
) -> None:
    profile = await _enroll(runtime, enroller)
    key = (enroller.tenant_id, str(profile.id))
    assert key in await _node(runtime).enrolled_speakers()
    assert await runtime.warm_registry.members(*key) == {"in-process"}
    erased = await runtime.erasures.erase(enroller, str(profile.id))
    assert erased.evicted_node_ids == ["in-process"]
    assert key not in await _node(runtime).enrolled_speakers()
    assert await runtime.warm_registry.members(*key) == frozenset()


async def test_fan_out_and_warm_landing_after_the_erasure_resurrect_nothing(
    runtime: ModuleRuntime, enroller: Principal
) -> None:
    profile = await _enroll(runtime, enroller)
    key = (enroller.tenant_id, str(profile.id))
    windows = await runtime.warmer.load_windows(profile.reference_blob_key)
    assert windows is not None and windows.voice is not None
    await runtime.erasures.erase(enroller, str(profile.id))
    # A fan-out that started before the erasure and reaches the node after it ...
    late = await runtime.warmer.enroll_checked(enroller.tenant_id, profile.id, windows.voice, None)
    assert [(r.node_id, r.ok, r.error) for r in late] == [("in-process", False, "erased")]
    # ... and a warm that had read the profile before the erasure.
    warm = await runtime.warmer.warm(profile, None)
    assert all(not r.ok for r in warm)
    assert key not in await _node(runtime).enrolled_speakers()
    assert await runtime.warm_registry.members(*key) == frozenset()
    with pytest.raises(ScaiEchoError) as missing:
        await runtime.speakers.warm(enroller, str(profile.id), [])
    assert missing.value.kind.code == "NOT_FOUND"


async def test_reconciler_rewarms_a_node_that_lost_its_memory_and_evicts_erased_speakers(
    runtime: ModuleRuntime, enroller: Principal
) -> None:
    kept = await _enroll(runtime, enroller)
    node = _node(runtime)
    kept_key = (enroller.tenant_id, str(kept.id))
    # The node restarts: its memory is empty.
    await node.evict_speaker(*kept_key)
    # An erased speaker the node still holds (it was down while the speaker was erased).
    gone = await _enroll(
        runtime, Principal(enroller.tenant_id, enroller.user_id, ENROLLER), name="Gone Reader"
    )
    gone_key = (enroller.tenant_id, str(gone.id))
    windows = await runtime.warmer.load_windows(gone.reference_blob_key)
    assert windows is not None and windows.voice is not None
    await runtime.erasures.erase(enroller, str(gone.id))
    await node.enroll_speaker(*gone_key, windows.voice)
    await runtime.reconciler.run_once()
    held = await node.enrolled_speakers()
    assert kept_key in held and gone_key not in held
    assert await runtime.warm_registry.members(*kept_key) == {"in-process"}
    shown, _ = await runtime.speakers.get(enroller, str(kept.id))
    assert shown.status == "ready"


async def test_the_namer_names_live_profiles_only_and_never_an_erased_one_a_node_still_holds(
    runtime: ModuleRuntime, enroller: Principal
) -> None:
    profile = await _enroll(runtime, enroller)
    windows = await runtime.warmer.load_windows(profile.reference_blob_key)
    assert windows is not None and windows.voice is not None
    stranger = speakers.embedder().embed([np.concatenate(speakers.conversation_voices()["speaker91"])])[0]
    namer = SpeakerNamer(SpeakerFleet(runtime.node_pool), runtime.speakers.store)
    later = speakers.embedder().embed([np.concatenate(speakers.librivox_voices()[3:])])[0]
    found = await namer.name(enroller.tenant_id, np.stack([later, stranger, np.zeros(192, np.float32)]))
    assert found == [Speaker("Elinor Reader", str(profile.id)), None, None]
    assert await namer.name(str(uuid.uuid4()), later[None, :]) == [None]  # another tenant's library
    await runtime.erasures.erase(enroller, str(profile.id))
    (node,) = runtime.node_pool.nodes
    await node.enroll_speaker(enroller.tenant_id, str(profile.id), windows.voice)  # a node that missed it
    assert await namer.name(enroller.tenant_id, later[None, :]) == [None]
