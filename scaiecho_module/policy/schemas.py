from __future__ import annotations

from datetime import datetime

import msgspec


class TenantPolicyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    allowed_backends: list[str]
    default_backend: str


class TenantPolicyView(msgspec.Struct):
    tenant_id: str
    allowed_backends: list[str]
    default_backend: str
    source: str  # "tenant" (a stored row) or "default" (deployment default, no row yet)
    backends_available: dict[str, bool]
    updated_at: datetime | None = None
