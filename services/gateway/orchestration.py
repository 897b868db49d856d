"""Driving a run through the services: QUEUED → PREPARING → RUNNING → GRADING → a terminal state.

The gateway owns each run's event log: it persists every event (its own and the runner's) before
anyone can watch it, and it writes `events.jsonl` and `report.json` to the store before the run is
reported finished. Every run is one task owned by `RunOrchestrator`, which cancels them all on
shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from mleredux.errors import InvalidArgumentError
from mleredux.grading.report import report_json
from mleredux.store import ArtifactStore
from mleredux.timestamps import now_timestamp
from mleredux.v1 import (
    common_pb2,
    competitions_pb2,
    gateway_pb2,
    grader_pb2,
    grader_pb2_grpc,
    preparer_pb2,
    preparer_pb2_grpc,
    runner_pb2,
    runner_pb2_grpc,
)
from services.gateway.chores import ChoreProcess, store_run_files, write_run_files
from services.gateway.event_writer import EventWriter, settled
from services.gateway.metrics import EVENT_LAG_SECONDS, GRADING_SECONDS, QUEUE_WAIT_SECONDS, RUNS_FINISHED
from services.gateway.outcome import graded_outcome, grading_failed
from services.gateway.runner_stub import RunnerBatch
from services.gateway.scheduler import Demand, FairScheduler, RunnerBudget
from services.gateway.state import RunDatabase, RunRow, is_terminal, prepare_batch

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason

#: How long the gateway keeps trying to reach a runner that went away mid-run before the run is LOST.
RUNNER_REATTACH_SECONDS = 300.0
#: How long grading is tried again while the grader is unreachable (restarting after a crash, say).
GRADER_RETRY_SECONDS = 300.0
#: A grading call that failed this way never reached a verdict: the same call is safe to repeat.
_GRADER_GONE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
#: Errors of a runner stream that mean "the runner went away", not "the runner refused".
_RUNNER_GONE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED})
#: Errors of a runner that is there but will not run this request (e.g. larger than its whole budget).
_RUNNER_REFUSED = frozenset(
    {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION}
)


def _with_agent(report: common_pb2.GradeReport, run: gateway_pb2.Run) -> common_pb2.GradeReport:
    """The report, saying exactly which agent it grades (its resource, image, digest and git commit)."""
    stamped = common_pb2.GradeReport()
    stamped.CopyFrom(report)
    stamped.agent = run.agent_resource or run.agent
    stamped.agent_image = run.image
    stamped.agent_digest = run.agent_digest
    stamped.agent_commit = run.agent_commit
    return stamped


@dataclass(frozen=True)
class HeldBatch:
    """Consecutive durable events of a run held in memory, with their `RunEventBatch` encoding when
    it is at hand (a runner's batch as received: sent on to a caught-up watcher as it is)."""

    events: Sequence[common_pb2.RunEvent]
    encoded: bytes | None

    @property
    def first_seq(self) -> int:
        return self.events[0].seq

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq

    @property
    def size(self) -> int:
        return len(self.encoded) if self.encoded is not None else 64 * len(self.events)

    def events_from(self, seq: int) -> Sequence[common_pb2.RunEvent]:
        """The held events from `seq` (which the batch holds) to its end."""
        return self.events[seq - self.first_seq :]


class EventHub:
    """Wakes the watchers of a run when its log grows or its state changes, and holds each run's
    latest durable batches, so that a watcher that is caught up, or a few batches behind, takes them
    from memory instead of reading them back from SQLite. Per run at most `HELD_BATCHES` batches and
    about `HELD_BYTES` are held (always the newest one); a watcher further behind reads the database."""

    #: Batches held per run: a watcher that falls behind by a few under load still reads memory.
    HELD_BATCHES = 8
    #: Bytes held per run, though the newest batch is always held (a hostile agent's 64 KiB lines
    #: stay bounded: a batch itself is bounded by the runner's batch size).
    HELD_BYTES = 1 << 20

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._held: dict[str, deque[HeldBatch]] = {}

    def notify(
        self, run_id: str, durable: Sequence[common_pb2.RunEvent] | None = None, encoded: bytes | None = None
    ) -> None:
        """`durable`: events that will never change: committed here, or a runner's batch (journaled
        on the runner before it was sent, and sent again, identical, to a restarted gateway), with
        its `RunEventBatch` encoding when at hand. A batch older than the newest held (a status event
        whose commit came after a newer runner batch) is not kept; one that leaves a gap after it
        starts the held run of batches anew."""
        if durable:
            batch = HeldBatch(durable, encoded)
            held = self._held.get(run_id)
            if held is None or batch.first_seq > held[-1].last_seq + 1:
                self._held[run_id] = deque([batch])
            elif batch.first_seq == held[-1].last_seq + 1:
                held.append(batch)
                total = sum(b.size for b in held)
                while len(held) > self.HELD_BATCHES or (len(held) > 1 and total > self.HELD_BYTES):
                    total -= held.popleft().size
        event = self._events.pop(run_id, None)
        if event is not None:
            event.set()

    def held(self, run_id: str, from_seq: int) -> HeldBatch | None:
        """The held batch with the event `from_seq`, if any."""
        for batch in reversed(self._held.get(run_id, ())):
            if batch.first_seq <= from_seq <= batch.last_seq:
                return batch
        return None

    def caught_up(self, run_id: str, next_seq: int) -> bool:
        """True when `next_seq` follows the newest held batch: a watcher there has every durable
        event, since each is notified here before any later one is (nothing held: it cannot tell)."""
        held = self._held.get(run_id)
        return held is not None and len(held) > 0 and next_seq == held[-1].last_seq + 1

    def forget(self, run_id: str) -> None:
        self._held.pop(run_id, None)

    def next_notify(self, run_id: str) -> asyncio.Event:
        """The event the run's next notify sets, made now: a notify from this moment on is not missed
        (a task that would make it later, when it first runs, misses one in between)."""
        return self._events.setdefault(run_id, asyncio.Event())

    async def wait(self, run_id: str, seconds: float) -> None:
        """Returns on the next notify, or after `seconds` at the latest."""
        event = self.next_notify(run_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


class _CommitsAhead:
    """A run's runner batches that its watchers have but the database has not committed yet. The
    runner's stream is read on while they commit, within `MAX_BATCHES` and `MAX_BYTES`: a commit that
    waits (for the database's lock, which the chore process holds while it compacts a finished run,
    or for a checkpoint's fsync) no longer holds up the run's next lines on their way to its watchers.
    Past the bounds the stream is read no faster than its events are stored. Both bounds are half of
    what `EventHub` holds, so a watcher finds the batches the database does not have yet in memory
    (but for a batch of over half a MiB, which can push older ones out: a watcher that needs one of
    those finds it in the database once committed, at the next event or poll)."""

    MAX_BATCHES = EventHub.HELD_BATCHES // 2
    MAX_BYTES = EventHub.HELD_BYTES // 2

    def __init__(self) -> None:
        self._writes: deque[tuple[asyncio.Future[None], int]] = deque()
        self._bytes = 0

    def add(self, committed: asyncio.Future[None], size: int) -> None:
        self._writes.append((committed, size))
        self._bytes += size

    async def within_bounds(self) -> None:
        """Forgets the writes committed by now and waits for the oldest while the rest exceed a bound.
        A write that failed raises here, as it did when each batch was awaited."""
        while self._writes and (
            self._writes[0][0].done() or len(self._writes) > self.MAX_BATCHES or self._bytes > self.MAX_BYTES
        ):
            await self._settle_oldest()

    async def all_committed(self) -> None:
        while self._writes:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        committed, size = self._writes.popleft()
        self._bytes -= size
        await settled(committed)


class _Finished(Exception):
    """Raised inside a run's task once its terminal state is decided."""


#: What a run asks for when its compute profile leaves a field unset (the runner's defaults).
DEFAULT_DEMAND = Demand(cpus=1.0, memory_bytes=2 << 30)


def run_demand(run: gateway_pb2.Run) -> Demand:
    compute = run.compute
    return Demand(
        cpus=compute.cpus or DEFAULT_DEMAND.cpus,
        memory_bytes=compute.memory_bytes or DEFAULT_DEMAND.memory_bytes,
        gpus=compute.gpus,
    )


class RunOrchestrator:
    """Owns the task of every run in flight; places each on a runner through the fair scheduler."""

    def __init__(
        self,
        db: RunDatabase,
        hub: EventHub,
        store: ArtifactStore,
        *,
        preparer: preparer_pb2_grpc.PreparerServiceStub,
        runners: dict[str, runner_pb2_grpc.RunnerServiceStub],
        grader: grader_pb2_grpc.GraderServiceStub,
        max_concurrent: int = 4,
        per_user_limit: int = 0,
        runner_reattach_seconds: float = RUNNER_REATTACH_SECONDS,
        grader_retry_seconds: float = GRADER_RETRY_SECONDS,
        writer: EventWriter | None = None,
        chores: ChoreProcess | None = None,
        store_url: str = "",
    ) -> None:
        if not runners:
            raise ValueError("the gateway needs at least one runner")
        self.db = db
        #: Writes every event, new run and changed run row off the event loop, in order; `self.db` is
        #: the loop's connection for reads only.
        self.writer = writer or EventWriter(db.path)
        self.hub = hub
        self.store = store
        #: Where a finished run's files are written from (with `store_url`, the same store by URL).
        self.chores = chores
        self.store_url = store_url
        self.preparer = preparer
        self.runners = runners
        self.grader = grader
        # Until a runner reports its budget (GetCapacity), it is taken to hold `max_concurrent` runs
        # of the default size; the runner itself also queues what does not fit.
        self.scheduler = FairScheduler(
            [
                RunnerBudget(
                    address, DEFAULT_DEMAND.cpus * max_concurrent, DEFAULT_DEMAND.memory_bytes * max_concurrent
                )
                for address in runners
            ],
            per_user_limit=per_user_limit,
            max_running=max_concurrent,
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_requested: dict[str, str] = {}
        #: Runs whose events come from the runner right now (it must be told when they are cancelled).
        self._executing: set[str] = set()
        self.runner_reattach_seconds = runner_reattach_seconds
        self.grader_retry_seconds = grader_retry_seconds
        #: Told each run id once it has finished (the storage keeper compacts its events then).
        self.on_finished: Callable[[str], None] | None = None
        #: Runs whose terminal event is stored but whose files and state are not yet (see `_conclude`).
        self._ending: dict[str, tuple[gateway_pb2.Run, int, int, str]] = {}
        self._concluding: set[asyncio.Task[None]] = set()
        #: Cancelled runs being released on their runner (cancelled at shutdown: best effort).
        self._releasing: set[asyncio.Task[None]] = set()
        #: Owner of every run submitted (or recovered) and not yet concluded.
        self._owners: dict[str, str] = {}
        self._shutting_down = False

    # -- runners -----------------------------------------------------------------------------------

    def _runner(self, run: gateway_pb2.Run) -> runner_pb2_grpc.RunnerServiceStub:
        """The runner a run was placed on (the first one for runs from before placement was recorded)."""
        return self.runners.get(run.runner) or next(iter(self.runners.values()))

    async def refresh_budgets(self) -> None:
        """Ask every runner for its budget; one that does not answer keeps the assumed one."""
        for address, stub in self.runners.items():
            try:
                capacity = await stub.GetCapacity(runner_pb2.GetCapacityRequest(), timeout=2)
            except grpc.aio.AioRpcError:
                continue
            self.scheduler.update_budget(address, capacity.cpus_total, capacity.memory_bytes_total, capacity.gpus_total)

    # -- the log -----------------------------------------------------------------------------------

    def _apply_status(self, run: gateway_pb2.Run, change: common_pb2.StatusChange) -> None:
        """A status change updates the run, except a terminal one, which `_finish` applies once the
        run's files are durable."""
        if is_terminal(change.state):
            return
        run.state = change.state
        run.message = change.message
        if change.HasField("compute"):  # the runner's effective profile replaces the request's
            run.compute.CopyFrom(change.compute)
        if change.state == RunState.RUN_STATE_RUNNING and not run.HasField("start_time"):
            run.start_time.CopyFrom(now_timestamp())

    def _apply_events(self, run: gateway_pb2.Run, events: list[common_pb2.RunEvent]) -> bool:
        """Applies what the events change in the run; False when they change nothing but its log."""
        changed = False
        for event in events:
            if event.HasField("status_change"):
                self._apply_status(run, event.status_change)
                if event.status_change.HasField("model_usage"):  # the runner's model call totals
                    run.model_usage.CopyFrom(event.status_change.model_usage)
                changed = True
            elif event.HasField("report"):
                if run.HasField("model_usage"):
                    event.report.model_usage.CopyFrom(run.model_usage)
                run.report.CopyFrom(event.report)
                changed = True
        return changed

    def _persist(self, run: gateway_pb2.Run, events: list[common_pb2.RunEvent]) -> None:
        """Applies the events to the run and hands them to the writer thread without waiting (they are
        ordered before any later write); watchers hear of them once they are committed."""
        changed = self._apply_events(run, events)
        self.writer.enqueue(
            prepare_batch(run, events, run_changed=changed), lambda: self.hub.notify(run.run_id, events)
        )

    def _persist_runner_batch(
        self, run: gateway_pb2.Run, events: list[common_pb2.RunEvent], encoded: bytes | None = None
    ) -> asyncio.Future[None] | None:
        """A batch from the runner: its watchers have it at once, and the returned future is done once
        it is committed (None for an empty batch). Telling watchers before the commit is safe because
        the runner journaled the batch before sending it: a gateway that dies before committing
        reattaches after its last committed seq and gets the same events again. `encoded`: the batch
        as received, stored and watched as it is unless applying it changed an event (a report takes
        the run's model usage)."""
        if not events:
            return None
        changed = self._apply_events(run, events)
        if changed:
            encoded = None  # a status or report batch (rare): encoded again, with what was applied
        committed = self.writer.enqueue(prepare_batch(run, events, run_changed=changed, encoded=encoded))
        self.hub.notify(run.run_id, events, encoded)
        return committed

    def _emit(self, run: gateway_pb2.Run, **payload: object) -> common_pb2.RunEvent:
        event = common_pb2.RunEvent(run_id=run.run_id, seq=run.last_seq + 1, time=now_timestamp(), **payload)  # type: ignore[arg-type]
        self._persist(run, [event])
        return event

    def _status(self, run: gateway_pb2.Run, state: int, message: str, reason: int = 0) -> None:
        self._emit(run, status_change=common_pb2.StatusChange(state=state, reason=reason, message=message))  # type: ignore[arg-type]

    # -- run lifecycle -----------------------------------------------------------------------------

    async def submit(self, run: gateway_pb2.Run) -> gateway_pb2.Run:
        """Stores the new run and its QUEUED event, starts its task, and returns the run as submitted
        once both writes are committed (a read right after finds it). Counted among the owner's
        unfinished runs at once."""
        self._owners[run.run_id] = run.owner
        self.writer.enqueue(RunRow.of(run, new=True))
        self._status(run, RunState.RUN_STATE_QUEUED, "queued")
        # The task owns the run from here, whatever happens to this caller (its first step waits
        # for these writes too).
        owned = gateway_pb2.Run()
        owned.CopyFrom(run)
        self._start_task(run.run_id, run=owned)
        await asyncio.shield(self.writer.flush())
        return run  # as submitted (QUEUED); its task has its own copy

    def unfinished_of(self, owner: str) -> int:
        """How many of the owner's runs are submitted and not yet concluded (held in memory: no read)."""
        return sum(1 for who in self._owners.values() if who == owner)

    def _start_task(
        self, run_id: str, *, reattach: bool = False, regrade: bool = False, run: gateway_pb2.Run | None = None
    ) -> None:
        """`run`: the run as just submitted (its writes may not be committed yet); else it is read."""
        task = asyncio.create_task(
            self._drive(run_id, reattach=reattach, regrade=regrade, given=run), name=f"run-{run_id}"
        )
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(run_id, None))

    async def cancel(self, run_id: str, reason: str = "cancelled by the user") -> gateway_pb2.Run:
        run = self.db.get_run(run_id)
        if is_terminal(run.state):
            return run
        self._cancel_requested[run_id] = reason
        found = False
        if run.state == RunState.RUN_STATE_RUNNING:
            # The runner kills the container and ends its stream with CANCELLED.
            with contextlib.suppress(grpc.aio.AioRpcError):
                answer = await self._runner(run).CancelRun(
                    runner_pb2.RunnerServiceCancelRunRequest(run_id=run_id, reason=reason), timeout=30
                )
                found = answer.found
        task = self._tasks.get(run_id)
        if not found and task is not None:
            # Not running on a reachable runner: stop the run's task (it tells the runner if it can).
            task.cancel()
        if task is not None:
            await asyncio.wait({task}, timeout=60)
        return self.db.get_run(run_id)

    async def recover(self) -> None:
        """At start-up: queued runs are queued again, and so are runs that were preparing or waiting
        for a runner but had not been placed on one (preparation is idempotent); runs on a runner are
        reattached (the runner keeps a run nobody follows, and a finished one until it is released);
        runs caught grading are graded again from their stored submission."""
        for run in self.db.unfinished_runs():
            self._owners[run.run_id] = run.owner
            placed = bool(run.runner)
            last = self.db.events_from(run.run_id, run.last_seq, 1) if run.last_seq else []
            if last and last[0].HasField("status_change") and is_terminal(last[0].status_change.state):
                # It ended before the restart but was not concluded: conclude it as it ended.
                change = last[0].status_change
                self._finish(run, change.state, change.reason, change.message, emit=False)
                self._conclude_later(run.run_id)
            elif run.state == RunState.RUN_STATE_QUEUED or (run.state == RunState.RUN_STATE_PREPARING and not placed):
                self._start_task(run.run_id)
            elif run.state in (RunState.RUN_STATE_RUNNING, RunState.RUN_STATE_PREPARING):
                self._start_task(run.run_id, reattach=True)
            elif run.state == RunState.RUN_STATE_GRADING:
                self._start_task(run.run_id, regrade=True)
            else:
                self._status(
                    run,
                    RunState.RUN_STATE_LOST,
                    "the gateway restarted while the run was in flight",
                    FailureReason.FAILURE_REASON_RUNNER_LOST,
                )
                self._finish(
                    run,
                    RunState.RUN_STATE_LOST,
                    FailureReason.FAILURE_REASON_RUNNER_LOST,
                    "the gateway restarted while the run was in flight",
                    emit=False,
                )
                self._conclude_later(run.run_id)

    async def _runner_verdict(self, run: gateway_pb2.Run) -> common_pb2.StatusChange:
        """The runner's verdict already stored for a run caught grading (its last GRADING change),
        looked up in a worker thread: the whole log is read (up to the runner's line cap)."""
        return await asyncio.to_thread(self._find_runner_verdict, run.run_id)

    def _find_runner_verdict(self, run_id: str) -> common_pb2.StatusChange:
        verdict = common_pb2.StatusChange(state=RunState.RUN_STATE_GRADING, message="graded again after a restart")
        db = RunDatabase(self.db.path)
        try:
            seq = 1
            while events := db.events_from(run_id, seq):
                for event in events:
                    if event.HasField("status_change") and event.status_change.state == RunState.RUN_STATE_GRADING:
                        verdict = event.status_change
                seq = events[-1].seq + 1
        finally:
            db.close()
        return verdict

    async def shutdown(self) -> None:
        self._shutting_down = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*list(self._concluding), return_exceptions=True)
        releasing = list(self._releasing)
        for task in releasing:
            task.cancel()
        await asyncio.gather(*releasing, return_exceptions=True)
        await self.writer.close()

    def _finish(self, run: gateway_pb2.Run, state: int, reason: int, message: str, *, emit: bool = True) -> None:
        """Ends the run: its terminal event now; its files in the store and then its visible state in
        `_conclude` (which the run's task awaits), so nothing heavy runs on the event loop."""
        if emit:
            self._status(run, state, message, reason)
        self._ending[run.run_id] = (run, state, reason, message)

    async def _conclude(self, run_id: str) -> None:
        ending = self._ending.pop(run_id, None)
        if ending is None:
            return
        run, state, reason, message = ending
        await self.writer.flush()  # the terminal event is committed before the log is read back
        await self._store_run_files(run)
        run.state = state  # type: ignore[assignment]
        run.failure_reason = reason  # type: ignore[assignment]
        run.message = message
        run.end_time.CopyFrom(now_timestamp())
        try:
            await self.writer.save(run)
        finally:
            self._owners.pop(run.run_id, None)
        self.hub.notify(run.run_id)
        self.hub.forget(run.run_id)
        RUNS_FINISHED.labels(state=RunState.Name(state).removeprefix("RUN_STATE_")).inc()
        self._cancel_requested.pop(run.run_id, None)
        if self.on_finished is not None:
            self.on_finished(run.run_id)

    def _conclude_later(self, run_id: str) -> None:
        """For a run ended outside a run task (at start-up): concluded by a task the orchestrator owns."""
        task = asyncio.create_task(self._conclude(run_id), name=f"conclude-{run_id}")
        self._concluding.add(task)
        task.add_done_callback(self._concluding.discard)

    async def _store_run_files(self, run: gateway_pb2.Run) -> None:
        """The run's `events.jsonl` and `report.json` into the store: in the chore process when there
        is one (services/gateway/chores.py), else in a worker thread with a connection of its own."""
        report = json.dumps(report_json(run.report), indent=2).encode() if run.HasField("report") else None
        try:
            if self.chores is not None and self.store_url:
                await self.chores.run(store_run_files, str(self.db.path), self.store_url, run.run_id, report)
            else:
                await asyncio.to_thread(self._write_run_files, run.run_id, report)
        except Exception as exc:  # the events stay in SQLite; say so rather than lose the run
            print(f"run {run.run_id}: could not store events/report: {exc}", file=sys.stderr, flush=True)

    def _write_run_files(self, run_id: str, report: bytes | None) -> None:
        db = RunDatabase(self.db.path)
        try:
            write_run_files(db, self.store, run_id, report)
        finally:
            db.close()

    async def _drive(
        self, run_id: str, *, reattach: bool = False, regrade: bool = False, given: gateway_pb2.Run | None = None
    ) -> None:
        try:
            await self._drive_to_end(run_id, reattach=reattach, regrade=regrade, given=given)
        finally:
            # Shielded: a shutdown that cancels the task still lets the run's files reach the store.
            await asyncio.shield(self._conclude(run_id))

    async def _drive_to_end(self, run_id: str, *, reattach: bool, regrade: bool, given: gateway_pb2.Run | None) -> None:
        run = given if given is not None else self.db.get_run(run_id)
        try:
            if regrade:
                await self._grade(run, await self._runner_verdict(run))
                return
            try:
                if reattach:
                    address = run.runner or next(iter(self.runners))
                    self.scheduler.adopt(run.run_id, run.owner, address, run_demand(run))
                    verdict = await self._follow_runner(run, None)
                else:
                    dataset = await self._prepare(run)
                    await self._place(run)
                    verdict = await self._execute(run, dataset)
            finally:
                self.scheduler.release(run_id)
            if verdict.state != RunState.RUN_STATE_GRADING:
                self._finish(run, verdict.state, verdict.reason, verdict.message, emit=False)
                return
            await self._grade(run, verdict)
        except _Finished:
            return
        except asyncio.CancelledError:
            reason = self._cancel_requested.get(run_id)
            if reason is None and self._shutting_down:
                reason = "the gateway shut down while the run was in flight"
            if run_id in self._executing:
                # The runner keeps a run whose follower vanished (so a restarted gateway can reattach);
                # a run cancelled here must be cancelled there too.
                with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError):
                    await self._runner(run).CancelRun(
                        runner_pb2.RunnerServiceCancelRunRequest(run_id=run_id, reason=reason or "cancelled"),
                        timeout=10,
                    )
                self._executing.discard(run_id)
                if reason is not None:
                    # Nobody follows it now: once the runner has it stopped, it may forget the run
                    # (rather than keep its work dir for the retention time).
                    self._release_later(run)
            self._finish(
                run, RunState.RUN_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, reason or "cancelled"
            )
            if reason is None:
                raise
        except Exception as exc:
            print(f"run {run_id}: internal error: {exc!r}", file=sys.stderr, flush=True)
            self._finish(
                run,
                RunState.RUN_STATE_FAILED,
                FailureReason.FAILURE_REASON_INTERNAL,
                f"gateway error: {type(exc).__name__}: {exc}",
            )

    def _fail_on_rpc(self, run: gateway_pb2.Run, what: str, reason: int) -> Callable[[grpc.aio.AioRpcError], None]:
        def fail(exc: grpc.aio.AioRpcError) -> None:
            self._finish(run, RunState.RUN_STATE_FAILED, reason, f"{what}: {exc.details() or exc.code().name}")
            raise _Finished

        return fail

    async def _prepare(self, run: gateway_pb2.Run) -> common_pb2.Dataset:  # type: ignore[name-defined]
        self._status(run, RunState.RUN_STATE_PREPARING, f"preparing {run.competition_id}")
        dataset = None
        try:
            call = self.preparer.PrepareCompetition(
                preparer_pb2.PreparerServicePrepareCompetitionRequest(competition_id=run.competition_id, task=run.task)
            )
            async for progress in call:
                if progress.stage == competitions_pb2.PrepareStage.PREPARE_STAGE_DONE:
                    dataset = progress.dataset
        except grpc.aio.AioRpcError as exc:
            self._fail_on_rpc(run, "prepare failed", FailureReason.FAILURE_REASON_PREPARE_FAILED)(exc)
        if dataset is None:
            self._finish(
                run,
                RunState.RUN_STATE_FAILED,
                FailureReason.FAILURE_REASON_PREPARE_FAILED,
                "prepare failed: the preparer ended without a dataset",
            )
            raise _Finished
        return dataset

    async def _place(self, run: gateway_pb2.Run) -> None:
        """Waits for the run's turn (fair share between users, per-user quota, runner capacity) and
        records the runner it goes to, so a restarted gateway knows where to reattach."""
        waiting = asyncio.ensure_future(self.scheduler.acquire(run.run_id, run.owner, run_demand(run)))
        await asyncio.sleep(0)
        if not waiting.done():
            position = self.scheduler.position(run.run_id)
            self._status(
                run,
                RunState.RUN_STATE_PREPARING,
                f"dataset ready; waiting for a runner (position {position} in the queue)",
            )
        asked = asyncio.get_running_loop().time()
        try:
            run.runner = await waiting
            QUEUE_WAIT_SECONDS.observe(asyncio.get_running_loop().time() - asked)
        except InvalidArgumentError as exc:
            self._finish(run, RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_INTERNAL, str(exc))
            raise _Finished from None
        finally:
            if not waiting.done():
                waiting.cancel()
        await self.writer.save(run)  # committed before the runner hears of the run

    async def _execute(self, run: gateway_pb2.Run, dataset: object) -> common_pb2.StatusChange:
        request = runner_pb2.ExecuteRunRequest(
            run_id=run.run_id,
            image=run.image,
            competition_id=run.competition_id,
            dataset=dataset,  # type: ignore[arg-type]
            compute=run.compute,
            first_seq=run.last_seq + 1,
            task=run.task,
            env=dict(run.env),
            model_access=run.model_access,
            command=list(run.agent_manifest.command),
            agent_args_json=run.agent_manifest.args_json,
        )
        return await self._follow_runner(run, request)

    async def _follow_runner(
        self, run: gateway_pb2.Run, request: runner_pb2.ExecuteRunRequest | None
    ) -> common_pb2.StatusChange:
        """Persists the runner's events until its verdict. Starts the run with `request`, or (None)
        attaches to a run the runner already has. When the runner goes away mid-run (killed,
        restarted) the stream is re-attached after the last event held here, for up to
        `runner_reattach_seconds`; the runner's journal makes the continuation gap-free."""
        loop = asyncio.get_running_loop()
        last_status: common_pb2.StatusChange | None = None
        ahead = _CommitsAhead()
        down_since: float | None = None
        pause = 0.2
        self._executing.add(run.run_id)
        cancelled = False
        try:
            while True:
                if request is not None:
                    call = self._runner(run).ExecuteRun(request)
                else:
                    attach = runner_pb2.AttachRunRequest(run_id=run.run_id, after_seq=run.last_seq)
                    call = self._runner(run).AttachRun(attach)
                try:
                    async for batch in call:
                        down_since, pause = None, 0.2
                        events = list(batch.events)
                        encoded = batch.encoded if isinstance(batch, RunnerBatch) else None
                        committed = self._persist_runner_batch(run, events, encoded)
                        if committed is not None:
                            ahead.add(committed, len(encoded) if encoded is not None else batch.ByteSize())
                            await ahead.within_bounds()
                        if events:
                            EVENT_LAG_SECONDS.observe(max(time.time() - events[-1].time.ToNanoseconds() / 1e9, 0.0))
                        for event in events:
                            if event.HasField("status_change"):
                                last_status = event.status_change
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.ALREADY_EXISTS and request is not None:
                        request = None  # the runner has the run already (it restarted before we heard of it)
                        continue
                    if exc.code() in _RUNNER_REFUSED:
                        self._fail_on_rpc(run, "the runner refused the run", FailureReason.FAILURE_REASON_INTERNAL)(exc)
                    if exc.code() not in _RUNNER_GONE:
                        self._fail_on_rpc(run, "runner failed", FailureReason.FAILURE_REASON_RUNNER_LOST)(exc)
                    # Anything already streamed means the runner has the run: from now on, attach.
                    if request is not None and run.last_seq >= request.first_seq:
                        request = None
                    down_since = down_since if down_since is not None else loop.time()
                    remaining = self.runner_reattach_seconds - (loop.time() - down_since)
                    if remaining <= 0 or not await self._runner_back(run, remaining, pause):
                        self._finish(
                            run,
                            RunState.RUN_STATE_LOST,
                            FailureReason.FAILURE_REASON_RUNNER_LOST,
                            f"the runner went away mid-run and did not come back within "
                            f"{self.runner_reattach_seconds:g}s ({exc.details() or exc.code().name})",
                        )
                        raise _Finished from exc
                    pause = min(pause * 2, 2.0)
        except asyncio.CancelledError:
            # Still executing as far as the runner knows: the run's task tells the runner to cancel it
            # (`_drive_to_end`), and for that it must still find the run among those executing.
            cancelled = True
            raise
        finally:
            if not cancelled:
                self._executing.discard(run.run_id)
        await ahead.all_committed()
        if last_status is not None:
            # Every event up to the verdict is in the database now: the runner may forget the run.
            await self._release_on_runner(run)
        if last_status is None or not (
            is_terminal(last_status.state) or last_status.state == RunState.RUN_STATE_GRADING
        ):
            self._finish(
                run,
                RunState.RUN_STATE_LOST,
                FailureReason.FAILURE_REASON_RUNNER_LOST,
                "the runner's stream ended before the run did",
            )
            raise _Finished
        return last_status

    def _release_later(self, run: gateway_pb2.Run) -> None:
        task = asyncio.create_task(self._release_when_stopped(run), name=f"release-{run.run_id}")
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_when_stopped(self, run: gateway_pb2.Run) -> None:
        """Asks the runner to forget a cancelled run until it can (its container stopped and its files
        stored take a moment), for up to a minute; after that its retention time does it."""
        for _ in range(60):
            try:
                answer = await self._runner(run).ReleaseRun(runner_pb2.ReleaseRunRequest(run_id=run.run_id), timeout=10)
            except grpc.aio.AioRpcError:
                return
            if answer.released:
                return
            await asyncio.sleep(1.0)

    async def _release_on_runner(self, run: gateway_pb2.Run) -> None:
        """Best effort: a runner that misses it forgets the run after its retention time anyway."""
        try:
            await self._runner(run).ReleaseRun(runner_pb2.ReleaseRunRequest(run_id=run.run_id), timeout=10)
        except grpc.aio.AioRpcError as exc:
            print(f"run {run.run_id}: could not release it on its runner: {exc.code().name}", file=sys.stderr)

    async def _call_grader(self, method: Callable[..., Any], request: object) -> Any:
        """One grading call, tried again while the grader is unreachable (restarting, crashed mid-grade:
        grading is idempotent), for up to `grader_retry_seconds`; any other error is final."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grader_retry_seconds
        pause = 0.5
        started = loop.time()
        while True:
            try:
                answer = await method(request, timeout=600, wait_for_ready=True)
                GRADING_SECONDS.observe(loop.time() - started)
                return answer
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _GRADER_GONE or loop.time() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _runner_back(self, run: gateway_pb2.Run, within: float, pause: float) -> bool:
        """Waits until the run's runner answers again (at most `within` seconds)."""
        await asyncio.sleep(pause)
        try:
            await self._runner(run).GetCapacity(
                runner_pb2.GetCapacityRequest(), wait_for_ready=True, timeout=max(within - pause, 0.1)
            )
        except grpc.aio.AioRpcError:
            return False
        return True

    async def _grade_technique(self, run: gateway_pb2.Run, verdict: common_pb2.StatusChange) -> None:
        """A technique task: the analysis JSON is graded against the planted truth (and the
        submission, when the task asks for one); each item's grading is a rollout event too."""
        analysis_file = f"{run.task}_analysis.json"
        prefix = f"runs/{run.run_id}/submission/"
        try:
            answer = await self._call_grader(
                self.grader.GradeTechniqueTask,
                grader_pb2.GradeTechniqueTaskRequest(
                    task=run.task,
                    competition_id=run.competition_id,
                    analysis=grader_pb2.SubmissionSource(store_key=prefix + analysis_file),
                    submission=grader_pb2.SubmissionSource(store_key=prefix + "submission.csv"),
                    compute_profile=run.compute,
                ),
            )
        except grpc.aio.AioRpcError as exc:
            self._finish(run, *grading_failed(exc.details() or exc.code().name))
            return
        report = answer.report
        if report.HasField("details"):
            self._emit(run, rollout=common_pb2.RolloutEvent(kind="technique_grading", payload=report.details))
        self._emit(run, report=_with_agent(report, run))
        self._finish(run, *graded_outcome(report, verdict, task=run.task))

    async def _grade(self, run: gateway_pb2.Run, verdict: common_pb2.StatusChange) -> None:
        if run.task:
            await self._grade_technique(run, verdict)
            return
        key = f"runs/{run.run_id}/submission/submission.csv"
        try:
            answer = await self._call_grader(
                self.grader.GradeSubmission,
                grader_pb2.GradeSubmissionRequest(
                    competition_id=run.competition_id,
                    submission=grader_pb2.SubmissionSource(store_key=key),
                    compute_profile=run.compute,
                ),
            )
        except grpc.aio.AioRpcError as exc:
            self._finish(run, *grading_failed(exc.details() or exc.code().name))
            return
        report = answer.report
        self._emit(run, report=_with_agent(report, run))
        self._finish(run, *graded_outcome(report, verdict))
