"""StreamTranscribeService: one live transcription session, whatever transport feeds it.

The transport hands over raw media bytes and control events; the session decodes, applies
backpressure, runs the backend's live recognizer, meters audio seconds as they are
processed, audits, and yields deltas. It knows nothing about WebSockets or WebRTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio.to_thread

from scaiecho_module import metrics
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.audio.stream_decode import check_media_type, make_decoder
from scaiecho_module.audit import record_audit
from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.backends.base import BackendSet, LiveRecognizer, SttBackend, with_fallback
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import (
    BACKEND_UNAVAILABLE,
    FORBIDDEN,
    INTERNAL_ERROR,
    VALIDATION_ERROR,
    ScaiEchoError,
)
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.languages import check_language_hint
from scaiecho_module.metering import record_audio_usage, require_audio_budget
from scaiecho_module.permissions import PERM_DIARIZE
from scaiecho_module.policy.service import PolicyService
from scaiecho_module.streaming.replay import ReplayBuffer
from scaiecho_module.transcript import Delta

logger = logging.getLogger("scaiecho.stream")


@dataclass(frozen=True, slots=True)
class OpenRequest:
    media_type: str
    language_hint: str | None = None
    chunk_seconds: float | None = None
    diarize: bool = False
    backend_preference: BackendPreference = BackendPreference.ANY


@dataclass(frozen=True, slots=True)
class BackendSwitched:
    """The session's backend failed and it carries on on another one (``any`` allows it)."""

    backend_used: str
    replayed_seconds: float


# Given the backend that failed, the backend to go on with and its recogniser, or None.
Failover = Callable[[str], Awaitable[tuple[str, LiveRecognizer] | None]]


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The last item a session yields: why it ended and how much audio it processed."""

    reason: str
    audio_seconds: float
    error: ScaiEchoError | None = None


class StreamTranscribeService:
    def __init__(
        self, host: Host, settings: ScaiEchoSettings, backends: BackendSet, policies: PolicyService
    ) -> None:
        self._host = host
        self._settings = settings
        self._backends = backends
        self._policies = policies

    async def open(self, principal: Principal, request: OpenRequest) -> LiveSession:
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
        policy = await self._policies.effective(principal.tenant_id)
        # Resolve first: a session that cannot run anywhere fails before the budget check.
        self._backends.resolve(principal.tenant_id, policy, request.backend_preference)
        await require_audio_budget(
            self._host.accounting, principal.tenant_id, self._settings.stream.metering_seconds
        )

        async def start(backend: SttBackend) -> tuple[str, LiveRecognizer]:
            return backend.backend_id, await backend.open_stream(language, chunk)

        backend_id, recognizer = await with_fallback(
            self._backends, principal.tenant_id, policy, request.backend_preference, start
        )

        async def failover(failed: str) -> tuple[str, LiveRecognizer] | None:
            # The resolver's rule, mid-session: only ``any`` moves, only where the policy allows.
            try:
                other = self._backends.resolve(
                    principal.tenant_id, policy, request.backend_preference, failed
                )
            except ScaiEchoError:
                return None
            return await start(self._backends.get(other, principal.tenant_id))

        # Only ``any`` under a two-backend policy can ever move: others keep no replay audio.
        movable = request.backend_preference is BackendPreference.ANY and len(policy.allowed_backends) > 1
        session = LiveSession(
            self._host, self._settings, principal, backend_id, request, recognizer,
            failover if movable else None,
        )  # fmt: skip
        await record_audit(
            self._host,
            AuditEvent(
                principal.tenant_id, principal.user_id, "scaiecho.stream.open", session.id,
                {"backend": backend_id, "media_type": request.media_type, "diarize": request.diarize},
            )
        )  # fmt: skip
        return session


class LiveSession:
    def __init__(
        self,
        host: Host,
        settings: ScaiEchoSettings,
        principal: Principal,
        backend_id: str,
        request: OpenRequest,
        recognizer: LiveRecognizer,
        failover: Failover | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.backend_used = backend_id
        self.request = request
        self._host = host
        self._settings = settings.stream
        self._principal = principal
        self._recognizer = recognizer
        self._failover = failover
        self._replay = ReplayBuffer() if failover is not None else None
        # Session sample where the current recogniser's time zero lies (failover starts at 0).
        self._offset = 0
        self._loop = asyncio.get_running_loop()
        self._audio: asyncio.Queue[AudioArray | None] = asyncio.Queue()
        self._out: asyncio.Queue[Delta | BackendSwitched | SessionEnded] = asyncio.Queue()
        self._backlog = 0  # decoded samples queued but not yet recognised
        self._drained = asyncio.Event()
        self._drained.set()
        self._processed = 0
        self._metered = 0
        self._meter_seq = 0
        self._decoder = make_decoder(request.media_type, self._deliver_from_thread)
        self._closing = False
        self._aborted = False
        self._runner = asyncio.create_task(self._run(), name=f"stream-{self.id}")
        metrics.LIVE_SESSIONS.labels(backend_id).inc()

    # -- input ---------------------------------------------------------------------------

    async def feed(self, data: bytes) -> bool:
        """Accept media bytes. Returns True if the caller had to wait for the backlog to drain."""
        if self._closing:
            return False
        for block in self._decoder.feed(data):
            self._enqueue(block)
        limit = int(self._settings.max_backlog_seconds * SAMPLE_RATE)
        if self._backlog <= limit:
            return False
        # Faster than we can recognise: stop taking input until half the backlog is gone.
        # The transport stops reading, so the client's own sends block (TCP flow control).
        self._drained.clear()
        await self._drained.wait()
        return True

    async def close(self) -> None:
        """No more input: flush the decoder and the recognizer; the last deltas follow."""
        if self._closing:
            return
        self._closing = True
        try:
            for block in await anyio.to_thread.run_sync(self._decoder.finish):
                self._enqueue(block)
        except ScaiEchoError as exc:
            await self._stop(exc)
            return
        self._audio.put_nowait(None)

    async def abort(self, reason: str) -> None:
        """The transport ends the session early (client gone, idle, protocol error)."""
        if self._aborted or self._runner.done():
            return
        self._aborted = self._closing = True
        self._decoder.abort()
        self._runner.cancel()
        await asyncio.gather(self._runner, return_exceptions=True)
        await self._recognizer.close()
        await self._meter(final=True)
        await self._audit_close(reason, None)

    def _deliver_from_thread(self, block: AudioArray) -> None:
        self._loop.call_soon_threadsafe(self._enqueue, block)

    def _enqueue(self, block: AudioArray) -> None:
        if len(block):
            self._backlog += len(block)
            self._audio.put_nowait(block)

    # -- output --------------------------------------------------------------------------

    async def deltas(self) -> AsyncIterator[Delta | BackendSwitched | SessionEnded]:
        while True:
            item = await self._out.get()
            yield item
            if isinstance(item, SessionEnded):
                return

    @property
    def audio_seconds(self) -> float:
        return self._processed / SAMPLE_RATE

    # -- processing ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while (block := await self._audio.get()) is not None:
                self._backlog -= len(block)
                if self._backlog <= int(self._settings.max_backlog_seconds * SAMPLE_RATE) // 2:
                    self._drained.set()
                behind = self._backlog > SAMPLE_RATE  # more than 1 s waiting: skip partials
                if self._replay is not None:
                    self._replay.append(block)
                try:
                    deltas = self._shifted(await self._recognizer.push(block, behind))
                except ScaiEchoError as exc:
                    deltas = await self._switch(exc)  # replays the retained audio, this block too
                self._emit(deltas)
                self._processed += len(block)
                await self._meter()
            try:
                deltas = self._shifted(await self._recognizer.finish())
            except ScaiEchoError as exc:
                deltas = await self._switch(exc)
                deltas += self._shifted(await self._recognizer.finish())
            self._emit(deltas)
            await self._meter(final=True)
            await self._end(SessionEnded("closed", self.audio_seconds))
        except ScaiEchoError as exc:
            await self._stop(exc)
        except Exception:
            logger.exception("stream %s failed", self.id)
            await self._stop(ScaiEchoError(INTERNAL_ERROR, "live transcription failed"))

    # -- failover ------------------------------------------------------------------------

    def _shifted(self, deltas: list[Delta]) -> list[Delta]:
        if not self._offset:
            return deltas
        offset = self._offset / SAMPLE_RATE
        return [
            Delta(d.text, d.is_final, round(d.start + offset, 3), round(d.end + offset, 3)) for d in deltas
        ]

    def _emit(self, deltas: list[Delta]) -> None:
        for delta in deltas:
            if delta.is_final and self._replay is not None:
                self._replay.forget_until(int(delta.end * SAMPLE_RATE))
            self._out.put_nowait(delta)

    async def _switch(self, error: ScaiEchoError) -> list[Delta]:
        """The backend failed mid-session: go on on another one if the resolver allows it.

        What the failed backend had not yet made final is replayed to the new recogniser,
        so no speech is lost and the client does not reconnect. Otherwise ``error`` stands.
        """
        if error.kind is not BACKEND_UNAVAILABLE or self._failover is None or self._replay is None:
            raise error
        switched = await self._failover(self.backend_used)
        if switched is None:
            raise error
        failed, (self.backend_used, recognizer) = self.backend_used, switched
        with contextlib.suppress(Exception):
            await self._recognizer.close()
        self._recognizer, self._offset = recognizer, self._replay.start
        metrics.LIVE_SESSIONS.labels(failed).dec()
        metrics.LIVE_SESSIONS.labels(self.backend_used).inc()
        audio = self._replay.audio()
        replayed = round(len(audio) / SAMPLE_RATE, 3)
        logger.warning("stream %s: backend %s failed, continuing on %s", self.id, failed, self.backend_used)
        self._out.put_nowait(BackendSwitched(self.backend_used, replayed))
        await record_audit(
            self._host,
            AuditEvent(
                self._principal.tenant_id, self._principal.user_id, "scaiecho.stream.failover", self.id,
                {"from": failed, "to": self.backend_used, "replayed_seconds": replayed},
            )
        )  # fmt: skip
        return self._shifted(await recognizer.push(audio, behind=True))

    async def _stop(self, error: ScaiEchoError) -> None:
        self._drained.set()
        await self._meter(final=True)
        await self._end(SessionEnded("error", self.audio_seconds, error))

    async def _end(self, ended: SessionEnded) -> None:
        await self._audit_close(ended.reason, ended.error)
        self._out.put_nowait(ended)

    async def _audit_close(self, reason: str, error: ScaiEchoError | None) -> None:
        # Every end passes here once (normal, error or abort): the live gauge comes down here too.
        metrics.LIVE_SESSIONS.labels(self.backend_used).dec()
        outcome = "failed" if error else "completed"
        metrics.TRANSCRIPTIONS.labels("stream", self.backend_used, outcome).inc()
        if error:
            metrics.ERRORS.labels(error.kind.code).inc()
        await record_audit(
            self._host,
            AuditEvent(
                self._principal.tenant_id, self._principal.user_id, "scaiecho.stream.close", self.id,
                {"reason": reason, "audio_seconds": round(self.audio_seconds, 3),
                 "error": error.kind.code if error else None},
            )
        )  # fmt: skip

    async def _meter(self, final: bool = False) -> None:
        """Record usage in slices as audio is processed; refuse to go on past the budget."""
        step = int(self._settings.metering_seconds * SAMPLE_RATE)
        while self._processed - self._metered >= step or (final and self._processed > self._metered):
            quantity = min(step, self._processed - self._metered)
            self._meter_seq += 1
            await record_audio_usage(
                self._host.accounting, self._principal.tenant_id, self._principal.user_id,
                round(quantity / SAMPLE_RATE, 3), f"scaiecho:stream:{self.id}:{self._meter_seq}",
                mode="stream", backend=self.backend_used,
            )  # fmt: skip
            self._metered += quantity
            if not final:
                await require_audio_budget(
                    self._host.accounting, self._principal.tenant_id, self._settings.metering_seconds
                )
