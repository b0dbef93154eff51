"""The stub's audit log: append-only rows in ``host_audit_event``, in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from host_stub.models import AuditRecord
from scaiecho_module.host_contract import AuditEvent


class StubAuditLog:
    async def record(self, event: AuditEvent, *, session: AsyncSession) -> None:
        # Same database, same transaction: the row commits or rolls back with the module's change.
        session.add(
            AuditRecord(
                tenant_id=event.tenant_id,
                actor_user_id=event.actor_user_id,
                action=event.action,
                target=event.target,
                details=dict(event.details),
            )
        )
