"""The host contract: everything ScaiEcho needs from the ScaiGrid host, and nothing more.

The module never imports a host. A host (the stub in ``host_stub/`` or production ScaiGrid)
passes an object satisfying :class:`Host` to the entry point ``create_module(host)``.
Keeping the contract in one small file makes the coupling reviewable at a glance.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the result of authenticating a bearer token."""

    tenant_id: str
    user_id: str
    permissions: frozenset[str]

    def has(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class MeteringUnit:
    """A unit the module meters usage in (registered once at load time)."""

    name: str
    description: str
    unit: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    tenant_id: str
    actor_user_id: str | None
    action: str
    target: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class BudgetExhaustedError(Exception):
    """Raised by :meth:`Accounting.ensure_budget` or :meth:`Accounting.hold` when a tenant may
    not spend ``quantity`` more."""

    def __init__(self, unit: str, remaining: float) -> None:
        super().__init__(f"budget exhausted for {unit}: {remaining:g} remaining")
        self.unit = unit
        self.remaining = remaining


class Identity(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """Map a bearer token to a principal, or ``None`` when it is unknown or revoked."""
        ...

    def register_permissions(self, module_id: str, permissions: Mapping[str, str]) -> None:
        """Declare the module's permissions (name -> description) to the host's RBAC."""
        ...


class Accounting(Protocol):
    def register_unit(self, module_id: str, unit: MeteringUnit) -> None: ...

    async def ensure_budget(self, tenant_id: str, unit: str, quantity: float) -> None:
        """Raise :class:`BudgetExhaustedError` if the tenant cannot afford ``quantity`` more."""
        ...

    async def hold(
        self,
        tenant_id: str,
        unit: str,
        quantity: float,
        reference: str,
        *,
        ttl_seconds: float | None = None,
    ) -> None:
        """Reserve ``quantity`` against the budget before the work runs, under ``reference``.

        Atomic across requests and processes: the tenant's usage plus every other live hold
        plus this one must fit the limit, or :class:`BudgetExhaustedError` is raised and
        nothing is held; its ``remaining`` is then the most this hold could be. Calling it
        again with the same ``reference`` sets that hold to the new ``quantity`` (a job whose
        audio outgrows its estimate asks for more); only the increase is checked. The hold
        lasts until :meth:`record_usage` with the same ``reference`` settles it,
        :meth:`release` drops it, or ``ttl_seconds`` pass (a crashed process must not pin a
        tenant's budget forever; ``None``: no expiry).
        """
        ...

    async def release(self, reference: str) -> None:
        """Drop the hold ``reference`` without charging anything (the work did not run)."""
        ...

    async def record_usage(
        self,
        tenant_id: str,
        user_id: str | None,
        unit: str,
        quantity: float,
        reference: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append a usage event; ``reference`` identifies the metered work (idempotency key).

        Settles the hold of the same ``reference`` in the same transaction: the reservation
        becomes the charge, whatever its size.
        """
        ...


class AuditLog(Protocol):
    async def record(self, event: AuditEvent, *, session: AsyncSession) -> None:
        """Write ``event`` in ``session``, the module's open transaction on :class:`Database`.

        The event must commit if and only if that transaction commits: a change and its audit
        are stored together or not at all. Add or execute in ``session``; never commit, roll
        back or close it. A host whose audit lives outside this database writes the event to
        an outbox table here and forwards it from there.
        """
        ...


class Database(Protocol):
    """The host's database. The host creates the module's tables with ``scaiecho_module.migrations``."""

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]: ...


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    modified: datetime  # timezone-aware UTC


class BlobStore(Protocol):
    async def put(self, key: str, source: IO[bytes]) -> int:
        """Store the bytes of ``source`` under ``key``; return the number of bytes written."""
        ...

    async def get_to_file(self, key: str, target: IO[bytes]) -> int: ...

    async def delete(self, key: str) -> int:
        """Delete ``key``; return the bytes freed (0 when it did not exist)."""
        ...

    async def list_keys(self, prefix: str) -> list[BlobInfo]:
        """Every complete blob under ``prefix`` with its last change: the module sweeps the
        ones no row of its own names (a process killed between storing audio and its row).
        Half-written uploads are the store's own to clean up, never listed here."""
        ...


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How the host's queue runs a task. Long audio needs far more than queue defaults."""

    timeout_seconds: int
    heartbeat_seconds: int
    retries: int
    retry_delay_seconds: float


class TaskContext(Protocol):
    """What a running task may ask of the queue that runs it."""

    @property
    def attempt(self) -> int:
        """1 on the first run, 2 on the first retry, ..."""
        ...

    @property
    def max_attempts(self) -> int: ...

    async def heartbeat(self) -> None:
        """Tell the queue the task is alive; a task silent past its heartbeat is retried."""
        ...


# Called as ``await function(context, **kwargs)``.
TaskFunction = Callable[..., Coroutine[Any, Any, Any]]


class JobQueue(Protocol):
    def register_task(self, name: str, function: TaskFunction, options: TaskOptions) -> None:
        """Make ``function`` runnable by the host's workers under ``name``."""
        ...

    async def enqueue(self, name: str, job_key: str, **kwargs: Any) -> None:
        """Queue a run. Idempotent by ``job_key``: a key already queued or running is not added again."""
        ...


@runtime_checkable
class Host(Protocol):
    """What a host hands the module at load time."""

    @property
    def identity(self) -> Identity: ...

    @property
    def accounting(self) -> Accounting: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def database(self) -> Database: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def queue(self) -> JobQueue: ...

    @property
    def redis_url(self) -> str | None:
        """Shared Redis for cross-process state, or ``None`` (in-memory state then)."""
        ...


# An optional ASGI extension a host's WebSocket server may offer (in
# ``scope["extensions"]``). A client may end its side with a Close frame right after its
# last message (``websocat`` does when its input ends) while still waiting for the answers.
# An app that sends ``{"type": WS_HALF_CLOSE}`` after accepting asks the server to hold its
# Close reply: the client's Close then arrives as a ``websocket.receive`` event carrying
# ``{WS_HALF_CLOSE: {"code": ..., "reason": ...}}`` instead of a disconnect, sends still
# work, and the app's own ``websocket.close`` answers it (or the server's bound runs out).
WS_HALF_CLOSE = "scaigrid.websocket.half_close"
