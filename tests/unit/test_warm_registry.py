"""The in-memory warm registry (the Redis one runs in tests/e2e/test_speaker_stacks.py)."""

from __future__ import annotations

from scaiecho_module.speakers.registry import MemoryWarmRegistry, build_registry, warm_key


async def test_registry_keeps_node_ids_per_tenant_and_speaker() -> None:
    registry = MemoryWarmRegistry()
    await registry.add("t1", "s1", "node-a")
    await registry.add("t1", "s1", "node-b")
    await registry.add("t2", "s1", "node-c")
    await registry.discard("t1", "s1", "node-b")
    assert await registry.members("t1", "s1") == {"node-a"}
    assert await registry.members("t2", "s1") == {"node-c"}
    await registry.clear("t1", "s1")
    assert await registry.members("t1", "s1") == frozenset()
    assert await registry.members("t2", "s1") == {"node-c"}


def test_registry_is_in_memory_without_redis_and_keys_name_tenant_and_speaker() -> None:
    assert isinstance(build_registry(None), MemoryWarmRegistry)
    assert warm_key("t1", "s1") == "scaiecho:warm:t1:s1"
