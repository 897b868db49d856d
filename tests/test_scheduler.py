"""The gateway's scheduler: capacity, per-user quota, fair share between users, FIFO within a user."""

from __future__ import annotations

import asyncio

import pytest

from mleredux.errors import InvalidArgumentError
from services.gateway.scheduler import Demand, FairScheduler, RunnerBudget

GIB = 2**30
SMALL = Demand(1.0, 1 * GIB)


async def _grant_order(scheduler: FairScheduler, runs: list[tuple[str, str, Demand]]) -> list[str]:
    """Queue every run at once; release each as soon as it starts; the order in which they started."""
    started: list[str] = []

    async def one(run_id: str, user: str, demand: Demand) -> None:
        await scheduler.acquire(run_id, user, demand)
        started.append(run_id)
        await asyncio.sleep(0)
        scheduler.release(run_id)

    tasks = []
    for run in runs:
        tasks.append(asyncio.create_task(one(*run)))
        await asyncio.sleep(0)  # queued in this order
    await asyncio.gather(*tasks)
    return started


async def test_fifo_within_a_user_and_fair_share_between_users() -> None:
    scheduler = FairScheduler([RunnerBudget("r1", cpus=1, memory_bytes=4 * GIB)], per_user_limit=5)
    # A blocker holds the runner so everything else queues up first.
    assert await scheduler.acquire("blocker", "zed", SMALL) == "r1"
    runs = [("a1", "alice", SMALL), ("a2", "alice", SMALL), ("a3", "alice", SMALL), ("b1", "bob", SMALL)]
    order_task = asyncio.create_task(_grant_order(scheduler, runs))
    await asyncio.sleep(0.01)
    assert scheduler.queued() == ["a1", "a2", "a3", "b1"]
    scheduler.release("blocker")
    order = await order_task
    # Users take turns: bob's only run does not wait behind all of alice's; alice's keep their order.
    assert order == ["a1", "b1", "a2", "a3"]


async def test_per_user_quota_lets_other_users_through() -> None:
    scheduler = FairScheduler([RunnerBudget("r1", cpus=8, memory_bytes=64 * GIB)], per_user_limit=2)
    assert await scheduler.acquire("a1", "alice", SMALL) == "r1"
    assert await scheduler.acquire("a2", "alice", SMALL) == "r1"
    third = asyncio.create_task(scheduler.acquire("a3", "alice", SMALL))
    await asyncio.sleep(0.01)
    assert not third.done() and scheduler.position("a3") == 1
    assert await asyncio.wait_for(scheduler.acquire("b1", "bob", SMALL), 1) == "r1"
    scheduler.release("a1")
    assert await asyncio.wait_for(third, 1) == "r1"


async def test_capacity_admission_spreads_runs_over_runners() -> None:
    runners = [RunnerBudget("r1", cpus=2, memory_bytes=4 * GIB), RunnerBudget("r2", cpus=2, memory_bytes=4 * GIB)]
    scheduler = FairScheduler(runners, per_user_limit=10)
    placed = [await scheduler.acquire(f"x{i}", f"user{i}", Demand(2, 2 * GIB)) for i in range(2)]
    assert sorted(placed) == ["r1", "r2"]
    waiting = asyncio.create_task(scheduler.acquire("x2", "user2", Demand(2, 2 * GIB)))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "no runner has 2 CPUs free"
    scheduler.release("x0")
    assert await asyncio.wait_for(waiting, 1) == placed[0]


async def test_a_big_run_blocks_only_its_own_users_queue() -> None:
    scheduler = FairScheduler([RunnerBudget("r1", cpus=4, memory_bytes=8 * GIB)], per_user_limit=10)
    await scheduler.acquire("small-1", "carol", Demand(2, 1 * GIB))
    big = asyncio.create_task(scheduler.acquire("big", "alice", Demand(4, 1 * GIB)))
    await asyncio.sleep(0.01)
    after_big = asyncio.create_task(scheduler.acquire("alice-2", "alice", Demand(1, 1 * GIB)))
    other = asyncio.create_task(scheduler.acquire("bob-1", "bob", Demand(1, 1 * GIB)))
    await asyncio.sleep(0.01)
    assert other.done() and not big.done() and not after_big.done()
    scheduler.release("small-1")
    scheduler.release("bob-1")
    assert await asyncio.wait_for(big, 1) == "r1"
    scheduler.release("big")
    assert await asyncio.wait_for(after_big, 1) == "r1"


async def test_cancelling_a_queued_run_removes_it() -> None:
    scheduler = FairScheduler([RunnerBudget("r1", cpus=1, memory_bytes=GIB)], per_user_limit=5)
    await scheduler.acquire("first", "alice", SMALL)
    queued = asyncio.create_task(scheduler.acquire("second", "alice", SMALL))
    later = asyncio.create_task(scheduler.acquire("third", "bob", SMALL))
    await asyncio.sleep(0.01)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert scheduler.queued() == ["third"]
    scheduler.release("first")
    assert await asyncio.wait_for(later, 1) == "r1"


async def test_a_run_no_runner_could_ever_hold_is_refused_with_the_sizes() -> None:
    scheduler = FairScheduler([RunnerBudget("r1", cpus=2, memory_bytes=4 * GIB)])
    with pytest.raises(InvalidArgumentError, match=r"more than any runner has \(largest: 2 CPUs"):
        await scheduler.acquire("huge", "alice", Demand(16, GIB))
    with pytest.raises(InvalidArgumentError, match="1 GPUs"):
        await scheduler.acquire("gpu", "alice", Demand(1, GIB, gpus=1))
