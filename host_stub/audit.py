from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from host_stub.models import AuditRecord
from scaiecho_module.host_contract import AuditEvent


class StubAuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, event: AuditEvent) -> None:
        async with self._sessions.begin() as session:
            session.add(
                AuditRecord(
                    tenant_id=event.tenant_id,
                    actor_user_id=event.actor_user_id,
                    action=event.action,
                    target=event.target,
                    details=dict(event.details),
                )
            )
