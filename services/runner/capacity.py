"""The runner's budget: how many containers, CPUs, bytes of memory and GPUs it hands out at once.

A run holds a `Lease` on what its container is limited to from just before the container starts
until it has ended. Runs that do not fit wait in arrival order (first come, first served: a large
run is not starved by a stream of small ones); a run asking for more than the whole budget is
refused at once, since waiting would never help.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

from mleredux.errors import MleReduxError


class CapacityExceededError(MleReduxError):
    """A run asks for more than this runner's whole budget."""

    grpc_code = "RESOURCE_EXHAUSTED"


@dataclass(frozen=True)
class Claim:
    """What one run's container is limited to."""

    cpus: float
    memory_bytes: int
    gpus: int = 0


@dataclass(frozen=True)
class Budget:
    """What the runner may hand out at once."""

    cpus: float
    memory_bytes: int
    gpus: int
    max_concurrent: int


@dataclass(frozen=True)
class Usage:
    """What is handed out right now."""

    cpus: float
    memory_bytes: int
    gpus: int
    running: int
    waiting: int


class Lease:
    """A granted claim; `release` is idempotent."""

    def __init__(self, admission: Admission, claim: Claim) -> None:
        self.claim = claim
        self._admission = admission
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._give_back(self)


class Admission:
    """Grants claims within a budget, in arrival order."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._leases: set[Lease] = set()
        self._waiting: deque[tuple[Claim, asyncio.Future[Lease]]] = deque()

    def check(self, claim: Claim) -> None:
        """Raises CapacityExceededError for a claim that could never be granted."""
        budget = self.budget
        problems = []
        if claim.cpus > budget.cpus + 1e-9:
            problems.append(f"{claim.cpus:g} CPUs (budget {budget.cpus:g})")
        if claim.memory_bytes > budget.memory_bytes:
            problems.append(f"{claim.memory_bytes} bytes of memory (budget {budget.memory_bytes})")
        if claim.gpus > budget.gpus:
            problems.append(f"{claim.gpus} GPUs (budget {budget.gpus})")
        if problems:
            raise CapacityExceededError(f"the run asks for {' and '.join(problems)}: more than this runner has")

    def usage(self) -> Usage:
        leases = [lease.claim for lease in self._leases]
        return Usage(
            cpus=sum(c.cpus for c in leases),
            memory_bytes=sum(c.memory_bytes for c in leases),
            gpus=sum(c.gpus for c in leases),
            running=len(leases),
            waiting=len(self._waiting),
        )

    def _fits(self, claim: Claim) -> bool:
        used, budget = self.usage(), self.budget
        return (
            used.running < budget.max_concurrent
            and used.cpus + claim.cpus <= budget.cpus + 1e-9
            and used.memory_bytes + claim.memory_bytes <= budget.memory_bytes
            and used.gpus + claim.gpus <= budget.gpus
        )

    def try_acquire(self, claim: Claim) -> Lease | None:
        """A lease at once if the claim fits and nobody is waiting before it."""
        self.check(claim)
        if self._waiting or not self._fits(claim):
            return None
        return self._grant(claim)

    async def acquire(self, claim: Claim) -> Lease:
        """Waits for its turn; cancelling the wait gives nothing back and takes nothing."""
        lease = self.try_acquire(claim)
        if lease is not None:
            return lease
        future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        entry = (claim, future)
        self._waiting.append(entry)
        try:
            return await future
        except asyncio.CancelledError:
            if entry in self._waiting:
                self._waiting.remove(entry)
                self._grant_waiting()  # whoever waited behind it may fit now
            elif future.done() and not future.cancelled():
                # Granted in the same turn it was cancelled: hand it on.
                future.result().release()
            raise

    def force(self, claim: Claim) -> Lease:
        """A lease without waiting or checking: for containers that already run (after a restart)."""
        return self._grant(claim)

    def _grant(self, claim: Claim) -> Lease:
        lease = Lease(self, claim)
        self._leases.add(lease)
        return lease

    def _give_back(self, lease: Lease) -> None:
        self._leases.discard(lease)
        self._grant_waiting()

    def _grant_waiting(self) -> None:
        while self._waiting:
            claim, future = self._waiting[0]
            if future.done():
                self._waiting.popleft()
                continue
            if not self._fits(claim):
                return
            self._waiting.popleft()
            with contextlib.suppress(asyncio.InvalidStateError):
                future.set_result(self._grant(claim))
