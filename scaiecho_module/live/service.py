"""LiveService: opens live sessions (validation, admission, policy, budget, backend).

The session itself (``session.py``) does the work; this file decides whether it may start,
on which backend, and wires its parts: the meter, failover, the registry entry.
"""

from __future__ import annotations

import uuid
from typing import Any

from scaiecho_module.audio.stream_decode import check_media_type
from scaiecho_module.audit import record_audit
from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.backends.base import BackendSet, LiveContext, LiveRecognizer, SttBackend, with_fallback
from scaiecho_module.backends.resolver import Policy
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import FORBIDDEN, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.languages import check_language_hint
from scaiecho_module.live.diarize import LiveDiarizer
from scaiecho_module.live.failover import Failover
from scaiecho_module.live.meter import LiveMeter
from scaiecho_module.live.registry import LiveRegistry
from scaiecho_module.live.request import OpenRequest
from scaiecho_module.live.session import LiveSession
from scaiecho_module.permissions import PERM_DIARIZE
from scaiecho_module.policy.service import PolicyService


class StreamTranscribeService:
    def __init__(
        self,
        host: Host,
        settings: ScaiEchoSettings,
        backends: BackendSet,
        policies: PolicyService,
        diarizer: LiveDiarizer | None = None,
    ) -> None:
        self._host = host
        self._settings = settings
        self._backends = backends
        self._policies = policies
        self._diarizer = diarizer
        self.registry = LiveRegistry(settings.stream.max_sessions, settings.stream.max_sessions_per_tenant)

    async def open(
        self, principal: Principal, request: OpenRequest, transport: str = "websocket"
    ) -> LiveSession:
        """Open a live session; ``transport`` (``websocket``, ``webrtc``) is named in its audit."""
        check_media_type(request.media_type)
        language = check_language_hint(request.language_hint)
        chunk = (
            self._settings.stream.chunk_seconds if request.chunk_seconds is None else request.chunk_seconds
        )
        if not 2.0 <= chunk <= 30.0:
            raise ScaiEchoError(
                VALIDATION_ERROR, "chunk_seconds must be between 2 and 30", {"field": "chunk_seconds"}
            )
        if request.diarize and not principal.has(PERM_DIARIZE):
            raise ScaiEchoError(
                FORBIDDEN, f"diarize needs the {PERM_DIARIZE} permission", {"permission": PERM_DIARIZE}
            )
        self.registry.admit(principal.tenant_id)
        try:
            session = await self._start(principal, request, language, chunk, transport)
        except BaseException:
            self.registry.release(principal.tenant_id)
            raise
        self.registry.add(session)  # the admitted place becomes the session's
        return session

    async def _start(
        self, principal: Principal, request: OpenRequest, language: str | None, chunk: float, transport: str
    ) -> LiveSession:
        policy = await self._policies.effective(principal.tenant_id)
        # Resolve first: a session that cannot run anywhere fails before the budget check.
        self._backends.resolve(principal.tenant_id, policy, request.backend_preference)
        stream = self._settings.stream
        session_id = str(uuid.uuid4())

        # The first slice is held before any backend work; every way out below releases it.
        meter = LiveMeter(self._host.accounting, principal, session_id, stream.metering_seconds)
        await meter.reserve()
        try:
            return await self._wire(principal, request, language, chunk, transport, policy, session_id, meter)
        except BaseException:
            await meter.release()
            raise

    async def _wire(
        self, principal: Principal, request: OpenRequest, language: str | None, chunk: float,
        transport: str, policy: Policy, session_id: str, meter: LiveMeter,
    ) -> LiveSession:  # fmt: skip
        stream = self._settings.stream
        context = LiveContext(
            principal.tenant_id, session_id, diarize=request.diarize,
            min_silence=request.endpointing_seconds, partials=request.interim_results,
            word_timestamps=request.word_timestamps, prompt=request.prompt, hotwords=request.hotwords,
        )  # fmt: skip

        async def start(backend: SttBackend) -> tuple[str, LiveRecognizer]:
            return backend.backend_id, await backend.open_stream(language, chunk, context)

        backend_id, recognizer = await with_fallback(
            self._backends, principal.tenant_id, policy, request.backend_preference, start
        )

        async def reopen(failed: str) -> tuple[str, LiveRecognizer] | None:
            # The resolver's rule, mid-session: only ``any`` moves, only where the policy allows.
            try:
                other = self._backends.resolve(
                    principal.tenant_id, policy, request.backend_preference, failed
                )
            except ScaiEchoError:
                return None
            return await start(self._backends.get(other, principal.tenant_id))

        async def audit(event: str, details: dict[str, Any]) -> None:
            await record_audit(
                self._host,
                AuditEvent(
                    principal.tenant_id,
                    principal.user_id,
                    f"scaiecho.stream.{event}",
                    session_id,
                    {**details, "transport": transport},
                ),
            )

        # Only ``any`` under a two-backend policy can ever move.
        movable = request.backend_preference is BackendPreference.ANY and len(policy.allowed_backends) > 1
        # Speaker labels come from Backend A's speaker nodes; on B diarize is ignored (spec).
        labeller = None
        if request.diarize and self._diarizer is not None and backend_id == self._backends.self_hosted_id:
            labeller = self._diarizer.session(principal.tenant_id, meter.add_diarized)
        session = LiveSession(
            session_id, principal, backend_id, request, recognizer, stream, meter, audit,
            Failover(reopen) if movable else None, labeller, self.registry.remove, transport,
        )  # fmt: skip
        try:
            await audit("open", {"backend": backend_id, "media_type": request.media_type,
                                 "diarize": request.diarize})  # fmt: skip
        except BaseException:
            await session.abort("error")  # an unaudited session must not run
            raise
        return session
