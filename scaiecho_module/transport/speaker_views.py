"""Speaker domain objects -> response structs."""

from __future__ import annotations

from scaiecho_module.speakers.erasure import Erasure
from scaiecho_module.speakers.models import ConsentRecord, SpeakerProfile
from scaiecho_module.speakers.schemas import (
    ConsentView,
    ErasureView,
    NodeResultView,
    SpeakerProfileView,
)
from scaiecho_module.speakers.warming import NodeResult


def profile_view(profile: SpeakerProfile, consent: ConsentRecord | None = None) -> SpeakerProfileView:
    consent_view = None
    if consent is not None:
        consent_view = ConsentView(
            id=str(consent.id),
            user_full_name=consent.user_full_name,
            stated_purpose=consent.stated_purpose,
            consent_text=consent.consent_text,
            text_match=consent.text_match,
            recorded_at=consent.recorded_at,
        )
    return SpeakerProfileView(
        id=str(profile.id),
        speaker_id=str(profile.id),
        display_name=profile.display_name,
        language_primary=profile.language_primary,
        description=profile.description,
        enrollment_status=profile.status,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
        status_code=profile.status_code,
        consent=consent_view,
    )


def node_results(results: list[NodeResult]) -> list[NodeResultView]:
    return [NodeResultView(r.node_id, r.ok, r.error) for r in results]


def erasure_view(erasure: Erasure) -> ErasureView:
    return ErasureView(
        speaker_id=erasure.speaker_id,
        erased=True,
        audit_id=erasure.audit_id,
        blob_bytes_deleted=erasure.blob_bytes_deleted,
        evicted_node_ids=erasure.evicted_node_ids,
        error_summary=erasure.error_summary,
    )
