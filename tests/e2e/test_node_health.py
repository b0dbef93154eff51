"""The node board API processes share through Redis: one poller at a time, states for all."""

from __future__ import annotations

import asyncio

from scaiecho_module.backends.node_health import NodeState, RedisBoard
from tests.support.servers import redis_server


def test_one_process_holds_the_poller_lease_until_it_stops_renewing_it() -> None:
    async def scenario(url: str) -> None:
        first, second = RedisBoard(url, "pool"), RedisBoard(url, "pool")
        other_pool = RedisBoard(url, "another-deployment")
        try:
            assert await first.take_poller_lease(0.4)
            assert not await second.take_poller_lease(0.4)
            assert await first.take_poller_lease(0.4)  # the holder renews
            assert await other_pool.take_poller_lease(0.4)  # pools do not share a lease
            await asyncio.sleep(1.6)  # the holder stopped: its lease (3 polls = 1.2 s) runs out
            assert await second.take_poller_lease(0.4)
            assert not await first.take_poller_lease(0.4)
        finally:
            for board in (first, second, other_pool):
                await board.close()

    with redis_server() as url:
        asyncio.run(scenario(url))


def test_states_written_by_one_process_are_read_by_another_and_pools_stay_apart() -> None:
    async def scenario(url: str) -> None:
        writer, reader, other_pool = RedisBoard(url, "pool"), RedisBoard(url, "pool"), RedisBoard(url, "x")
        try:
            await writer.publish({"t1": NodeState(True, None), "t2": NodeState(False, "unreachable")})
            await writer.publish({"t1": NodeState(False, "request_failed")})
            assert await reader.read() == {
                "t1": NodeState(False, "request_failed"),
                "t2": NodeState(False, "unreachable"),
            }
            assert await other_pool.read() == {}
        finally:
            for board in (writer, reader, other_pool):
                await board.close()

    with redis_server() as url:
        asyncio.run(scenario(url))


def test_readiness_per_model_travels_with_the_state() -> None:
    async def scenario(url: str) -> None:
        writer, reader = RedisBoard(url, "models"), RedisBoard(url, "models")
        try:
            ready = {"scaiecho_stt": False, "scaiecho_stt_cpu": True}
            await writer.publish({"t1": NodeState(True, None, ready)})
            assert await reader.read() == {"t1": NodeState(True, None, ready)}
        finally:
            for board in (writer, reader):
                await board.close()

    with redis_server() as url:
        asyncio.run(scenario(url))
