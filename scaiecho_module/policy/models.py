from __future__ import annotations

from advanced_alchemy.base import UUIDAuditBase
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class TenantPolicy(UUIDAuditBase):
    """Which backends a tenant may use and which one runs when the caller does not mind."""

    __tablename__ = "scaiecho_tenant_policy"

    tenant_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    allowed_backends: Mapped[str] = mapped_column(String(2))  # "A", "B" or "AB"
    default_backend: Mapped[str] = mapped_column(String(1))
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
