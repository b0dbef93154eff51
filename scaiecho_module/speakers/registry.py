"""The warm registry: which nodes hold which speaker's embedding, as last confirmed.

A Redis set per speaker (``scaiecho:warm:<tenant>:<speaker>``) when the host has Redis, so
every API process sees the same answer; a dict in memory otherwise. It holds node ids only,
never an embedding. A node id stays after its node leaves: that is what ``stale`` means.
"""

from __future__ import annotations

from typing import Any, Protocol

_PREFIX = "scaiecho:warm"


class WarmRegistry(Protocol):
    async def add(self, tenant_id: str, speaker_id: str, node_id: str) -> None: ...

    async def discard(self, tenant_id: str, speaker_id: str, node_id: str) -> None: ...

    async def members(self, tenant_id: str, speaker_id: str) -> frozenset[str]: ...

    async def clear(self, tenant_id: str, speaker_id: str) -> None:
        """Forget the speaker entirely (erasure)."""
        ...

    async def close(self) -> None: ...


class MemoryWarmRegistry:
    def __init__(self) -> None:
        self._sets: dict[tuple[str, str], set[str]] = {}

    async def add(self, tenant_id: str, speaker_id: str, node_id: str) -> None:
        self._sets.setdefault((tenant_id, speaker_id), set()).add(node_id)

    async def discard(self, tenant_id: str, speaker_id: str, node_id: str) -> None:
        self._sets.get((tenant_id, speaker_id), set()).discard(node_id)

    async def members(self, tenant_id: str, speaker_id: str) -> frozenset[str]:
        return frozenset(self._sets.get((tenant_id, speaker_id), ()))

    async def clear(self, tenant_id: str, speaker_id: str) -> None:
        self._sets.pop((tenant_id, speaker_id), None)

    async def close(self) -> None:
        return None


def warm_key(tenant_id: str, speaker_id: str) -> str:
    return f"{_PREFIX}:{tenant_id}:{speaker_id}"


class RedisWarmRegistry:
    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)

    async def add(self, tenant_id: str, speaker_id: str, node_id: str) -> None:
        await self._redis.sadd(warm_key(tenant_id, speaker_id), node_id)

    async def discard(self, tenant_id: str, speaker_id: str, node_id: str) -> None:
        await self._redis.srem(warm_key(tenant_id, speaker_id), node_id)

    async def members(self, tenant_id: str, speaker_id: str) -> frozenset[str]:
        raw = await self._redis.smembers(warm_key(tenant_id, speaker_id))
        return frozenset(item.decode() for item in raw)

    async def clear(self, tenant_id: str, speaker_id: str) -> None:
        await self._redis.delete(warm_key(tenant_id, speaker_id))

    async def close(self) -> None:
        await self._redis.aclose()


def build_registry(redis_url: str | None) -> WarmRegistry:
    return RedisWarmRegistry(redis_url) if redis_url else MemoryWarmRegistry()
