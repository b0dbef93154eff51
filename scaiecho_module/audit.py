"""Audit events that go with no change of the module's own, each in a transaction of its own.

A change of ours (a tenant policy, a job's status) hands its event to ``host.audit.record`` in
the change's own session instead, so that the two commit together.
"""

from __future__ import annotations

from scaiecho_module.aio import to_completion
from scaiecho_module.host_contract import AuditEvent, Host


async def record_audit(host: Host, event: AuditEvent) -> None:
    """Audit what happened outside the module's tables: a transcription, a live session."""

    async def write() -> None:
        async with host.database.session_factory.begin() as session:
            await host.audit.record(event, session=session)

    await to_completion(write())  # a session's close audit is written by a task being cancelled
