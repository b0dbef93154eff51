"""PrioritySlots: a busy node serves its waiters most latency-sensitive first."""

from __future__ import annotations

import asyncio

import pytest

from scaiecho_module.backends.priority import Priority, PrioritySlots, Rank, Urgency


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _user(slots: PrioritySlots, priority: Rank, log: list[str], name: str) -> asyncio.Task[None]:
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


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_early_speaker_work_waits_behind_finals_until_its_own_final_waits_for_it() -> None:
    clock = _Clock()
    slots, log = PrioritySlots(1, clock), []
    early = Urgency()  # a session's speaker block, asked for while the speech is spoken
    async with slots.acquire(Priority.JOB):
        block = _user(slots, early, log, "block")
        clock.now += 1
        other_final = _user(slots, Priority.LIVE_FINAL, log, "other final")
        sync = _user(slots, Priority.SYNC, log, "sync")
        partial = _user(slots, Priority.LIVE_PARTIAL, log, "partial")
        await _settle()
    await asyncio.gather(block, other_final, sync, partial)
    # At SYNC it goes behind another session's final and before partials; among SYNC, oldest first.
    assert log == ["other final", "block", "sync", "partial"]

    log.clear()
    holder = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.acquire(Priority.JOB):
            holder.set()
            await release.wait()

    held = asyncio.create_task(hold())
    await holder.wait()
    block = _user(slots, early, log, "block")
    clock.now += 1
    other_final = _user(slots, Priority.LIVE_FINAL, log, "other final")
    await _settle()
    # Its own final, whose speech ended before the other's final was queued, now waits for it.
    with early.urgent(since=clock.now - 0.5):
        release.set()
        await asyncio.gather(held, block, other_final)
    assert log == ["block", "other final"]
    assert early.priority is Priority.SYNC


async def test_a_finals_labels_go_before_the_finals_of_speech_that_ended_later() -> None:
    # Four lockstep sessions: their text finals are queued; the first session's labels, asked
    # once its text is back, are dated from its speech's end and so go before the other three.
    clock = _Clock()
    slots, log = PrioritySlots(1, clock), []
    labels = Urgency()
    ended = clock.now
    with labels.urgent(since=ended):
        async with slots.acquire(Priority.LIVE_FINAL):  # session 0's text
            clock.now += 0.3
            texts = [_user(slots, Priority.LIVE_FINAL, log, f"text {i}") for i in (1, 2, 3)]
            await _settle()
            clock.now += 0.5
            label = _user(slots, labels, log, "labels 0")
            await _settle()
        await asyncio.gather(label, *texts)
    assert log == ["labels 0", "text 1", "text 2", "text 3"]
    assert labels.priority is Priority.SYNC and labels.since is None  # back once the final is out
