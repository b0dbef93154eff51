"""Response structs of the speaker endpoints (no recording, no embedding: never)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class ConsentView(msgspec.Struct):
    id: str
    user_full_name: str
    stated_purpose: str
    consent_text: str
    text_match: float
    recorded_at: datetime


class SpeakerProfileView(msgspec.Struct):
    id: str
    speaker_id: str
    display_name: str
    language_primary: str | None
    description: str | None
    enrollment_status: str
    created_at: datetime
    updated_at: datetime
    status_code: str | None = None
    consent: ConsentView | None = None
    preflight: dict[str, Any] | None = None
    enrolled_on: list[str] | None = None
    note: str | None = None


class SpeakerPage(msgspec.Struct):
    data: list[SpeakerProfileView]
    next_cursor: str | None


class NodeResultView(msgspec.Struct):
    node_id: str
    ok: bool
    error: str | None = None


class WarmStateView(msgspec.Struct):
    speaker_id: str
    warm_node_ids: list[str]
    candidate_node_ids: list[str]
    stale_node_ids: list[str]


class WarmResultView(msgspec.Struct):
    speaker_id: str
    enrollment_status: str
    results: list[NodeResultView]
    warm_node_ids: list[str]


class ErasureView(msgspec.Struct):
    speaker_id: str
    erased: bool
    audit_id: str
    blob_bytes_deleted: int
    evicted_node_ids: list[str]
    error_summary: dict[str, str]
