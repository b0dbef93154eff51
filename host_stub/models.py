"""Stub host tables: tenants, users, API keys, permission grants, usage ledger, budgets and
their holds, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class Tenant(UUIDAuditBase):
    __tablename__ = "host_tenant"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class User(UUIDAuditBase):
    __tablename__ = "host_user"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("host_tenant.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))


class PermissionGrant(UUIDAuditBase):
    __tablename__ = "host_permission_grant"
    __table_args__ = (UniqueConstraint("user_id", "permission"),)

    user_id: Mapped[UUID] = mapped_column(ForeignKey("host_user.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(100))


class ApiKey(UUIDAuditBase):
    """Only the sha256 of the key is stored; ``prefix`` lets operators recognise a key."""

    __tablename__ = "host_api_key"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("host_user.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class UsageEvent(UUIDAuditBase):
    """The accounting ledger. ``reference`` is unique so metering the same work twice is a no-op."""

    __tablename__ = "host_usage_event"

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("host_tenant.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[UUID | None] = mapped_column(nullable=True)
    module_id: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[float] = mapped_column(Float)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TenantBudget(UUIDAuditBase):
    """A per-tenant limit on one metering unit; no row means unlimited."""

    __tablename__ = "host_tenant_budget"
    __table_args__ = (UniqueConstraint("tenant_id", "unit"),)

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("host_tenant.id", ondelete="CASCADE"), index=True)
    unit: Mapped[str] = mapped_column(String(100))
    limit: Mapped[float] = mapped_column(Float)


class BudgetHold(UUIDAuditBase):
    """Budget reserved for work in progress; settled by the usage row of the same reference."""

    __tablename__ = "host_budget_hold"

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("host_tenant.id", ondelete="CASCADE"), index=True)
    unit: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[float] = mapped_column(Float)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class AuditRecord(UUIDAuditBase):
    """Append-only: the stub has no code path that updates or deletes a row."""

    __tablename__ = "host_audit_event"

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
