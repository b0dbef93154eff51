"""The live sessions this process runs: admission and lookup by id.

Keyed by session id and checked against the principal: another tenant's session is not
found (never "forbidden"), so ids reveal nothing across tenants. A WebRTC peer and its
control WebSocket find their one session here by the id in ``ready``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scaiecho_module.errors import NOT_FOUND, TOO_MANY_SESSIONS, ScaiEchoError
from scaiecho_module.host_contract import Principal

if TYPE_CHECKING:
    from scaiecho_module.live.session import LiveSession


class LiveRegistry:
    def __init__(self, max_sessions: int, max_per_tenant: int) -> None:
        self._max = max_sessions
        self._max_per_tenant = max_per_tenant
        self._sessions: dict[str, LiveSession] = {}
        self._reserved: dict[str, int] = {}  # per tenant: admitted, not yet registered

    def _count(self, tenant_id: str) -> int:
        live = sum(1 for s in self._sessions.values() if s.principal.tenant_id == tenant_id)
        return live + self._reserved.get(tenant_id, 0)

    def admit(self, tenant_id: str) -> None:
        """Hold a place for a session being opened; ``TOO_MANY_SESSIONS`` beyond a limit.

        Checked before the budget and the backend, so a refused client costs nothing.
        """
        if self._count(tenant_id) >= self._max_per_tenant:
            raise ScaiEchoError(
                TOO_MANY_SESSIONS, f"the tenant already has {self._max_per_tenant} live sessions open",
                {"scope": "tenant", "limit": self._max_per_tenant},
            )  # fmt: skip
        if len(self._sessions) + sum(self._reserved.values()) >= self._max:
            raise ScaiEchoError(
                TOO_MANY_SESSIONS, "the server is running as many live sessions as it can; retry shortly",
                {"scope": "server", "limit": self._max},
            )  # fmt: skip
        self._reserved[tenant_id] = self._reserved.get(tenant_id, 0) + 1

    def release(self, tenant_id: str) -> None:
        """Give back a held place (the session failed to open, or was registered)."""
        left = self._reserved.get(tenant_id, 0) - 1
        if left > 0:
            self._reserved[tenant_id] = left
        else:
            self._reserved.pop(tenant_id, None)

    def add(self, session: LiveSession) -> None:
        """Register an admitted session: its held place becomes the session's own."""
        self._sessions[session.id] = session
        self.release(session.principal.tenant_id)

    def remove(self, session: LiveSession) -> None:
        self._sessions.pop(session.id, None)

    def get(self, session_id: str, principal: Principal) -> LiveSession:
        session = self._sessions.get(session_id)
        if session is None or session.principal.tenant_id != principal.tenant_id:
            raise ScaiEchoError(NOT_FOUND, "no such live session", {"session_id": session_id})
        return session

    def __len__(self) -> int:
        return len(self._sessions)
