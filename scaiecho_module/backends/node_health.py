"""Node health shared between API processes.

With several API processes (``docs/operators.md``, scaling out) each would otherwise find a
dead node on its own, by failing a request to it. With Redis configured:

- one process at a time holds the poller lease and polls the nodes; it writes what it saw;
- a process whose request to a node fails writes that at once;
- every process reads the shared states about once a second and applies them.

Without Redis the board is in memory: every process polls for itself (the embedded default).
In-flight counts stay per process: they change per request, and a shared counter would be
left wrong by a crashed process.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

_PREFIX = "scaiecho:nodes"


@dataclass(frozen=True, slots=True)
class NodeState:
    healthy: bool
    last_error: str | None
    # Readiness per model (capabilities follow from it); empty: not known, keep what you have.
    models: Mapping[str, bool] = field(default_factory=dict)


class HealthBoard(Protocol):
    shared: bool

    async def take_poller_lease(self, seconds: float) -> bool:
        """True while this process should poll the nodes itself."""
        ...

    async def publish(self, states: dict[str, NodeState]) -> None: ...

    async def read(self) -> dict[str, NodeState]: ...

    async def close(self) -> None: ...


class LocalBoard:
    """One process: it polls the nodes itself and there is nobody to tell."""

    shared = False

    async def take_poller_lease(self, seconds: float) -> bool:
        return True

    async def publish(self, states: dict[str, NodeState]) -> None:
        return None

    async def read(self) -> dict[str, NodeState]:
        return {}

    async def close(self) -> None:
        return None


class RedisBoard:
    shared = True

    def __init__(self, url: str, pool_key: str) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        # Pools with different node lists (another deployment on the same Redis) must not mix.
        self._states = f"{_PREFIX}:{pool_key}:states"
        self._lease = f"{_PREFIX}:{pool_key}:poller"
        self._owner = uuid.uuid4().hex

    async def take_poller_lease(self, seconds: float) -> bool:
        ttl_ms = max(1000, int(seconds * 3000))  # three missed polls
        # Take the lease when free, or extend it when it is ours: a dead holder's lease runs out.
        if await self._redis.set(self._lease, self._owner, nx=True, px=ttl_ms):
            return True
        holder = await self._redis.get(self._lease)
        if holder is not None and holder.decode() == self._owner:
            await self._redis.pexpire(self._lease, ttl_ms)
            return True
        return False

    async def publish(self, states: dict[str, NodeState]) -> None:
        if not states:
            return
        now = time.time()
        await self._redis.hset(
            self._states,
            mapping={
                node_id: json.dumps(
                    {"healthy": s.healthy, "last_error": s.last_error, "models": dict(s.models), "at": now}
                )
                for node_id, s in states.items()
            },
        )

    async def read(self) -> dict[str, NodeState]:
        raw = await self._redis.hgetall(self._states)
        states = {}
        for key, value in raw.items():
            record = json.loads(value)
            models = {str(name): bool(ready) for name, ready in (record.get("models") or {}).items()}
            states[key.decode()] = NodeState(bool(record["healthy"]), record.get("last_error"), models)
        return states

    async def close(self) -> None:
        await self._redis.aclose()
