"""PrioritySlots: a busy node serves its waiters most latency-sensitive first."""

from __future__ import annotations

import asyncio

import pytest

from scaiecho_module.backends.priority import Priority, PrioritySlots


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _user(slots: PrioritySlots, priority: Priority, log: list[str], name: str) -> asyncio.Task[None]:
    async def run() -> None:
        async with slots.acquire(priority):
            log.append(name)

    return asyncio.create_task(run())


async def test_a_free_slot_is_taken_without_waiting() -> None:
    slots = PrioritySlots(1)
    async with slots.acquire(Priority.JOB):
        assert slots.waiting == 0


async def test_waiters_run_in_priority_order_not_arrival_order() -> None:
    slots, log = PrioritySlots(1), []
    async with slots.acquire(Priority.JOB):
        tasks = [
            _user(slots, priority, log, priority.name)
            for priority in (Priority.JOB, Priority.LIVE_PARTIAL, Priority.SYNC, Priority.LIVE_FINAL)
        ]
        await _settle()
        assert slots.waiting == 4
        assert log == []  # nobody runs while the slot is held
    await asyncio.gather(*tasks)
    assert log == ["LIVE_FINAL", "SYNC", "LIVE_PARTIAL", "JOB"]
    assert slots.waiting == 0


async def test_waiters_of_one_priority_run_first_come_first_served() -> None:
    slots, log = PrioritySlots(1), []
    async with slots.acquire(Priority.SYNC):
        tasks = [_user(slots, Priority.JOB, log, f"job{i}") for i in range(5)]
        await _settle()
    await asyncio.gather(*tasks)
    assert log == [f"job{i}" for i in range(5)]


async def test_a_live_final_waits_only_for_the_inference_already_running() -> None:
    slots, log = PrioritySlots(1), []
    async with slots.acquire(Priority.JOB):
        jobs = [_user(slots, Priority.JOB, log, f"job{i}") for i in range(3)]
        await _settle()
        final = _user(slots, Priority.LIVE_FINAL, log, "final")
        await _settle()
    await asyncio.gather(final, *jobs)
    assert log[0] == "final"


async def test_n_slots_admit_n_holders_at_once() -> None:
    slots, inside, peak = PrioritySlots(2), 0, 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal inside, peak
        async with slots.acquire(Priority.SYNC):
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(hold()) for _ in range(5)]
    await _settle()
    assert (inside, slots.waiting) == (2, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert slots.waiting == 0


async def test_an_exception_in_the_holder_releases_the_slot() -> None:
    slots = PrioritySlots(1)
    with pytest.raises(RuntimeError):
        async with slots.acquire(Priority.SYNC):
            raise RuntimeError("inference failed")
    async with asyncio.timeout(1):
        async with slots.acquire(Priority.SYNC):
            pass


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_no_slot() -> None:
    slots, log = PrioritySlots(1), []
    async with slots.acquire(Priority.SYNC):
        cancelled = _user(slots, Priority.LIVE_FINAL, log, "cancelled")
        later = _user(slots, Priority.JOB, log, "later")
        await _settle()
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert slots.waiting == 1
    await asyncio.wait_for(later, 1)
    assert log == ["later"]
    assert cancelled.cancelled()


async def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    slots, log = PrioritySlots(1), []
    async with slots.acquire(Priority.SYNC):
        first = _user(slots, Priority.LIVE_FINAL, log, "first")
        second = _user(slots, Priority.JOB, log, "second")
        await _settle()
    # Leaving the block handed the slot to ``first``; it is cancelled before it could run.
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    assert log == ["second"]
    # And the slot is free again afterwards, not leaked or doubled.
    async with asyncio.timeout(1), slots.acquire(Priority.JOB):
        blocked = _user(slots, Priority.JOB, log, "blocked")
        await _settle()
        assert slots.waiting == 1
    await blocked


async def test_a_newcomer_does_not_overtake_waiters_when_the_slot_passes_on() -> None:
    slots, log = PrioritySlots(1), []
    async with slots.acquire(Priority.SYNC):
        waiter = _user(slots, Priority.JOB, log, "waiter")
        await _settle()
    # The slot went straight to the waiter: a newcomer, even a live final, must queue.
    newcomer = _user(slots, Priority.LIVE_FINAL, log, "newcomer")
    await asyncio.gather(waiter, newcomer)
    assert log == ["waiter", "newcomer"]
