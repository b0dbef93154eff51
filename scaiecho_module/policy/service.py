"""PolicyService: the tenant policy row, read and written with audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scaiecho_module.backends.resolver import Policy
from scaiecho_module.errors import VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import AuditEvent, AuditLog, Principal
from scaiecho_module.policy.models import TenantPolicy
from scaiecho_module.policy.schemas import TenantPolicyUpdate, TenantPolicyView

_BACKENDS = ("A", "B")


class PolicyService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        audit: AuditLog,
        default: Policy,
        availability: Callable[[str], Mapping[str, bool]],
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self.default = default
        self._availability = availability  # BackendSet.availability: which backends run now

    async def view(self, tenant_id: str) -> TenantPolicyView:
        """The tenant's policy as an admin sees it: stored or the deployment default, and which
        backends are available to it right now."""
        row = await self.stored(tenant_id)
        available = dict(self._availability(tenant_id))
        if row is None:
            return TenantPolicyView(
                tenant_id=tenant_id,
                allowed_backends=sorted(self.default.allowed_backends),
                default_backend=self.default.default_backend,
                source="default",
                backends_available=available,
            )
        return TenantPolicyView(
            tenant_id=tenant_id,
            allowed_backends=list(row.allowed_backends),
            default_backend=row.default_backend,
            source="tenant",
            backends_available=available,
            updated_at=row.updated_at,
        )

    async def stored(self, tenant_id: str) -> TenantPolicy | None:
        async with self._sessions() as session:
            row: TenantPolicy | None = await session.scalar(
                select(TenantPolicy).where(TenantPolicy.tenant_id == tenant_id)
            )
            return row

    async def _write(self, principal: Principal, encoded: str, default: str) -> TenantPolicy:
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(TenantPolicy).where(TenantPolicy.tenant_id == principal.tenant_id).with_for_update()
            )
            if row is None:
                row = TenantPolicy(tenant_id=principal.tenant_id)
                session.add(row)
            row.allowed_backends = encoded
            row.default_backend = default
            row.updated_by = principal.user_id
            # In the change's transaction: the policy and its audit event commit together or not at all.
            await self._audit.record(
                AuditEvent(
                    tenant_id=principal.tenant_id,
                    actor_user_id=principal.user_id,
                    action="scaiecho.tenant_policy.update",
                    target=principal.tenant_id,
                    details={"allowed_backends": encoded, "default_backend": default},
                ),
                session=session,
            )
        return row

    async def effective(self, tenant_id: str) -> Policy:
        row = await self.stored(tenant_id)
        if row is None:
            return self.default
        return Policy(frozenset(row.allowed_backends), row.default_backend)

    async def update(self, principal: Principal, change: TenantPolicyUpdate) -> TenantPolicy:
        allowed = {b.upper() for b in change.allowed_backends}
        default = change.default_backend.upper()
        if not allowed or not allowed <= set(_BACKENDS):
            raise ScaiEchoError(
                VALIDATION_ERROR,
                "allowed_backends must be a non-empty list of 'A' and 'B'",
                {"field": "allowed_backends"},
            )
        if default not in allowed:
            raise ScaiEchoError(
                VALIDATION_ERROR,
                "default_backend must be one of allowed_backends",
                {"field": "default_backend"},
            )
        encoded = "".join(b for b in _BACKENDS if b in allowed)
        try:
            row = await self._write(principal, encoded, default)
        except IntegrityError:
            # Two first writes for one tenant raced on the unique tenant_id; the row exists now.
            # The failed transaction took its audit event with it: the retry writes both again.
            row = await self._write(principal, encoded, default)
        return row
