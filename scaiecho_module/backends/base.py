"""The SttBackend protocol that Backend A (self-hosted nodes) and Backend B (relay) implement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.resolver import Policy, resolve_backend
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.transcript import DecodeOptions, Delta, Transcript

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BackendTranscript:
    transcript: Transcript
    backend_id: str
    node_id: str | None
    model: str


@dataclass(frozen=True, slots=True)
class LiveContext:
    """Whose live session a recogniser serves: a per-tenant backend (a relay, a speaker
    library) keys its state by it; logs name the session, never the audio."""

    tenant_id: str
    session_id: str
    # The session labels speakers: a backend that can give finals word times does (the
    # labeller splits a final at a change of speaker); one that cannot ignores it.
    diarize: bool = False
    # The open frame's ``endpointing_ms`` (seconds here): the pause that ends an utterance,
    # None for the deployment's default. A backend that cannot set it ignores it.
    min_silence: float | None = None
    # ``interim_results`` false: no partials are wanted, so a backend need not compute any.
    partials: bool = True
    # The client asked for word times on finals (``word_timestamps``): as for ``diarize``, a
    # backend that can give finals word times does; one that cannot ignores it.
    word_timestamps: bool = False
    # The open frame's ``prompt`` and ``hotwords``, for every decode of the session: Whisper's
    # initial prompt and hotwords on A; on a relay hotwords only (Riva word boosting).
    prompt: str | None = None
    hotwords: str | None = None


class LiveRecognizer(Protocol):
    """One live session's recogniser: audio in (16 kHz mono float32), deltas out."""

    async def push(self, audio: AudioArray, behind: bool = False) -> list[Delta]: ...

    async def finish(self) -> list[Delta]: ...

    async def flush(self) -> list[Delta]:
        """A client's ``Finalize``: the utterance in progress as a final now, where the
        backend can force one (else what has arrived so far); the stream goes on."""
        ...

    async def close(self) -> None:
        """Release what the recogniser holds (background inference) when the session ends early."""
        ...


class SttBackend(Protocol):
    backend_id: str

    def available(self) -> bool: ...

    def interactive_near(self) -> bool:
        """Whether live or sync work is on this backend now or was a moment ago: a job then
        decodes in short slices (``jobs/slices.py``), so that work waits for less of it."""
        ...

    async def open_stream(
        self, language: str | None, chunk_seconds: float, context: LiveContext | None = None
    ) -> LiveRecognizer:
        """Start a live recogniser; ``BACKEND_UNAVAILABLE`` if the backend cannot take it now."""
        ...

    async def transcribe(
        self,
        audio: AudioArray,
        language: str | None,
        priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> BackendTranscript: ...


class TenantBackends(Protocol):
    """Backends that depend on the tenant (Backend B: each tenant's relay)."""

    def for_tenant(self, tenant_id: str | None) -> SttBackend | None: ...


class BackendSet:
    """The backends this deployment has. A missing backend is simply unavailable.

    Backend A is one pool for everybody; Backend B is the tenant's relay, when one is
    configured for it (``relays``).
    """

    def __init__(self, self_hosted: SttBackend, relays: TenantBackends) -> None:
        self._self_hosted = self_hosted
        self._relays = relays

    @property
    def self_hosted_id(self) -> str:
        return self._self_hosted.backend_id

    def _backend(self, backend_id: str, tenant_id: str | None) -> SttBackend | None:
        return self._self_hosted if backend_id == "A" else self._relays.for_tenant(tenant_id)

    def availability(self, tenant_id: str | None = None) -> dict[str, bool]:
        result = {}
        for backend_id in ("A", "B"):
            backend = self._backend(backend_id, tenant_id)
            result[backend_id] = backend is not None and backend.available()
        return result

    def get(self, backend_id: str, tenant_id: str | None = None) -> SttBackend:
        backend = self._backend(backend_id, tenant_id)
        if backend is None:
            raise ScaiEchoError(
                BACKEND_UNAVAILABLE, f"backend {backend_id} is not configured", {"backend": backend_id}
            )
        return backend

    def resolve(
        self, tenant_id: str, policy: Policy, preference: BackendPreference, failed: str | None = None
    ) -> str:
        """The resolver on this process's availability; ``failed`` counts as down whatever it says."""
        available = self.availability(tenant_id)
        if failed is not None:
            available[failed] = False
        return resolve_backend(policy, preference, available)


async def with_fallback(
    backends: BackendSet,
    tenant_id: str,
    policy: Policy,
    preference: BackendPreference,
    call: Callable[[SttBackend], Awaitable[T]],
) -> T:
    """Resolve and run ``call`` there; if that backend fails as unavailable, resolve once more.

    The failed backend reports unavailable by now (a relay's cooldown, a pool without a
    healthy node), so the second resolution applies the resolver's fallback rule: only for
    ``any``, only to a backend the policy allows, and only if that one is up. Used for a sync
    transcription and for opening a live session (before any audio is spent).
    """
    backend_id = backends.resolve(tenant_id, policy, preference)
    try:
        return await call(backends.get(backend_id, tenant_id))
    except ScaiEchoError as exc:
        if exc.kind is not BACKEND_UNAVAILABLE:
            raise
        fallback = backends.resolve(tenant_id, policy, preference, failed=backend_id)
        return await call(backends.get(fallback, tenant_id))
