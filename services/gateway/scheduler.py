"""Which queued run starts next, and on which runner.

Admission is by each runner's capacity (CPUs, memory and GPUs a run asks for must fit in what the
runner has free) and by a per-user concurrency quota. Between users the share is fair: the next
run comes from the user with the fewest runs in flight, then the fewest runs started so far (so
users take turns even when one run fits at a time), then the oldest queued run; within a user runs
start in the order they were queued. A run that cannot fit on any
runner at all is refused at once rather than left waiting forever.

The scheduler holds no I/O: the orchestrator feeds it runners' budgets and calls `acquire` from each
run's task, so its decisions are plain code, testable without services.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from mleredux.errors import InvalidArgumentError


@dataclass(frozen=True)
class Demand:
    """What a run needs from a runner while it is in flight."""

    cpus: float
    memory_bytes: int
    gpus: int = 0


@dataclass
class RunnerBudget:
    """One runner's total budget and what the scheduler has handed out on it."""

    address: str
    cpus: float
    memory_bytes: int
    gpus: int = 0
    used: Demand = field(default_factory=lambda: Demand(0.0, 0, 0))

    def fits(self, demand: Demand) -> bool:
        return (
            self.used.cpus + demand.cpus <= self.cpus + 1e-9
            and self.used.memory_bytes + demand.memory_bytes <= self.memory_bytes
            and self.used.gpus + demand.gpus <= self.gpus
        )

    def could_ever_fit(self, demand: Demand) -> bool:
        return demand.cpus <= self.cpus + 1e-9 and demand.memory_bytes <= self.memory_bytes and demand.gpus <= self.gpus

    def take(self, demand: Demand) -> None:
        self.used = Demand(
            self.used.cpus + demand.cpus, self.used.memory_bytes + demand.memory_bytes, self.used.gpus + demand.gpus
        )

    def give_back(self, demand: Demand) -> None:
        self.used = Demand(
            max(self.used.cpus - demand.cpus, 0.0),
            max(self.used.memory_bytes - demand.memory_bytes, 0),
            max(self.used.gpus - demand.gpus, 0),
        )


@dataclass
class _Waiting:
    run_id: str
    user: str
    demand: Demand
    order: int
    granted: asyncio.Future[str]


class FairScheduler:
    """Admission of runs onto runners: capacity, per-user quota, fair share, FIFO within a user."""

    def __init__(self, runners: list[RunnerBudget], *, per_user_limit: int = 2, max_running: int = 0) -> None:
        if not runners:
            raise ValueError("a scheduler needs at least one runner")
        self.runners = {r.address: r for r in runners}
        #: 0 means no per-user limit.
        self.per_user_limit = per_user_limit
        #: 0 means no limit beyond the runners' capacity.
        self.max_running = max_running
        self._queues: dict[str, deque[_Waiting]] = {}
        self._running: dict[str, tuple[str, str, Demand]] = {}  # run_id -> (user, runner, demand)
        self._order = itertools.count()
        self._started: dict[str, int] = {}

    # -- what the orchestrator calls -----------------------------------------------------------------

    async def acquire(self, run_id: str, user: str, demand: Demand) -> str:
        """Waits for the run's turn; returns the address of the runner it goes to.

        Cancelling the waiting task removes the run from the queue.
        """
        if not any(r.could_ever_fit(demand) for r in self.runners.values()):
            largest = max(self.runners.values(), key=lambda r: (r.cpus, r.memory_bytes))
            raise InvalidArgumentError(
                f"compute asks for {demand.cpus:g} CPUs, {demand.memory_bytes / 2**30:.1f} GiB memory and "
                f"{demand.gpus} GPUs, more than any runner has (largest: {largest.cpus:g} CPUs, "
                f"{largest.memory_bytes / 2**30:.1f} GiB, {largest.gpus} GPUs)"
            )
        waiting = _Waiting(run_id, user, demand, next(self._order), asyncio.get_running_loop().create_future())
        self._queues.setdefault(user, deque()).append(waiting)
        self._dispatch()
        try:
            return await waiting.granted
        except asyncio.CancelledError:
            if waiting.granted.done() and not waiting.granted.cancelled():
                self.release(run_id)  # granted just as it was cancelled: hand the room back
            else:
                self._forget(waiting)
            raise

    def release(self, run_id: str) -> None:
        """The run has left its runner (any outcome); its room goes to the next run."""
        held = self._running.pop(run_id, None)
        if held is not None:
            _, address, demand = held
            self.runners[address].give_back(demand)
        self._dispatch()

    def adopt(self, run_id: str, user: str, address: str, demand: Demand) -> None:
        """Counts a run already in flight on a runner (found again after a gateway restart)."""
        if address not in self.runners:
            self.runners[address] = RunnerBudget(address, demand.cpus, demand.memory_bytes, demand.gpus)
        self.runners[address].take(demand)
        self._running[run_id] = (user, address, demand)

    def update_budget(self, address: str, cpus: float, memory_bytes: int, gpus: int) -> None:
        """A runner reported its budget (GetCapacity): what it has in total, not what is free."""
        runner = self.runners.get(address)
        if runner is None:
            self.runners[address] = RunnerBudget(address, cpus, memory_bytes, gpus)
        else:
            runner.cpus, runner.memory_bytes, runner.gpus = cpus, memory_bytes, gpus
        self._dispatch()

    # -- what it knows ----------------------------------------------------------------------------

    def running_of(self, user: str) -> int:
        return sum(1 for owner, _, _ in self._running.values() if owner == user)

    def queued(self) -> list[str]:
        """Queued run ids in the order they would start if every runner were empty."""
        return [w.run_id for w in sorted((w for q in self._queues.values() for w in q), key=lambda w: w.order)]

    def position(self, run_id: str) -> int | None:
        """1 for the next run to start, among runs waiting; None when not waiting."""
        ids = self.queued()
        return ids.index(run_id) + 1 if run_id in ids else None

    # -- the decision -----------------------------------------------------------------------------

    def _forget(self, waiting: _Waiting) -> None:
        queue = self._queues.get(waiting.user)
        if queue is not None:
            with_out = deque(w for w in queue if w is not waiting)
            if with_out:
                self._queues[waiting.user] = with_out
            else:
                del self._queues[waiting.user]
        self._dispatch()

    def _dispatch(self) -> None:
        while True:
            if self.max_running and len(self._running) >= self.max_running:
                return
            # Users under quota: fewest in flight, then fewest started, then whoever has waited longest.
            candidates = sorted(
                (
                    (self.running_of(user), self._started.get(user, 0), queue[0].order, user)
                    for user, queue in self._queues.items()
                    if queue and (not self.per_user_limit or self.running_of(user) < self.per_user_limit)
                ),
            )
            started = False
            for _, _, _, user in candidates:
                head = self._queues[user][0]
                if head.granted.done():  # cancelled while waiting
                    self._queues[user].popleft()
                    started = True
                    break
                runner = self._pick_runner(head.demand)
                if runner is None:
                    # FIFO within a user: a head that does not fit now blocks that user's later runs,
                    # not other users'.
                    continue
                self._queues[user].popleft()
                runner.take(head.demand)
                self._running[head.run_id] = (user, runner.address, head.demand)
                self._started[user] = self._started.get(user, 0) + 1
                head.granted.set_result(runner.address)
                started = True
                break
            for user in [u for u, q in self._queues.items() if not q]:
                del self._queues[user]
            if not started:
                return

    def _pick_runner(self, demand: Demand) -> RunnerBudget | None:
        # The runner with the most CPUs free, so load spreads across hosts.
        fitting = [r for r in self.runners.values() if r.fits(demand)]
        if not fitting:
            return None
        return max(fitting, key=lambda r: (r.cpus - r.used.cpus, r.memory_bytes - r.used.memory_bytes, r.address))
