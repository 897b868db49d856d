"""Everything a runner runs: executions, its capacity budget, uploads, recovery and the reaper.

The gRPC servicer is a thin layer over `RunSupervisor`, which owns:

- every `RunExecution`, in `active` from its start until its caller says it has stored the last event
  (`release`), or until `finished_retention_seconds` have passed since it finished with no release
  (a caller that died after receiving the last events, before storing them, attaches again and
  collects them), or until `detach_grace_seconds` have passed with nobody following a run still
  going (it is then cancelled: nobody would see it);
- the `Admission` budget and the `ArtifactUploader` with its background hand-overs;
- recovery at start-up: the containers labelled with this runner's id are matched with the run dirs
  in its work root, and each run is reattached (its journal says what was sent and where capture
  stood), kept for replay when it had already finished, or ended as LOST with the reason;
- the reaper, at start-up and then periodically: a container labelled with this runner's id that no
  run owns is removed. Containers of other runners (other work roots) are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path

from mleredux.errors import MleReduxError
from mleredux.store import ArtifactStore
from mleredux.timestamps import now_timestamp
from mleredux.v1 import common_pb2
from services.runner.backends.base import ContainerBackend, ContainerState
from services.runner.capacity import Admission, Budget, Usage
from services.runner.container_contract import RUN_LABEL, RUNNER_LABEL
from services.runner.execution import JOURNAL_FILE, RUN_FILE, RunExecution, RunHost
from services.runner.limits import RunLimits
from services.runner.run_disk import release_disk, release_work_dir, stale_mounts
from services.runner.run_request import RunRequest
from services.runner.start_pacing import StartPacer
from services.runner.uploads import PENDING_FILE, ArtifactUploader, read_pending
from services.runner.validation_socket import Validator


class RunAlreadyActiveError(MleReduxError):
    """A run with that id is already executing (or ran) here."""

    grpc_code = "ALREADY_EXISTS"


class RunCancelledBeforeStartError(MleReduxError):
    """The run was cancelled before its ExecuteRun arrived: it is never started."""

    grpc_code = "ABORTED"


#: How long a cancel of a run this runner does not know yet is remembered (its ExecuteRun may be on
#: the way: the two calls race), and how many such cancels at most.
EARLY_CANCEL_SECONDS = 600.0
EARLY_CANCEL_MAX = 10_000


@dataclass(frozen=True)
class SupervisorSettings:
    """Where runs live, the budget, and how long things may wait."""

    work_root: Path
    runner_id: str
    budget: Budget
    #: How long a finished run waits for a store that is down before its files are handed over.
    store_wait_seconds: float = 600.0
    #: How long a run nobody follows is kept running before it is cancelled.
    detach_grace_seconds: float = 600.0
    #: How long a finished run's journal is kept for its caller when the caller never releases it.
    finished_retention_seconds: float = 6 * 3600.0
    #: How often the reaper looks for containers no run owns.
    reap_interval_seconds: float = 60.0
    #: What one run may make the runner spend (output, rollout, files, disk).
    limits: RunLimits = field(default_factory=RunLimits)
    #: Container starts per second (0: unpaced) and how many may go back to back; see start_pacing.py.
    container_starts_per_second: float = 0.0
    container_start_burst: int = 2


@dataclass(frozen=True)
class RecoveryReport:
    """What a start-up found."""

    reattached: list[str]
    finished: list[str]
    lost: list[str]
    #: Runs that had not started their container: started again from the beginning.
    restarted: list[str]
    reaped: list[str]
    uploads_resumed: list[str]
    #: Run disks left mounted by the previous process for runs nobody holds: unmounted.
    disks_released: list[str]


class RunSupervisor:
    """Owns every run of one runner."""

    def __init__(
        self,
        settings: SupervisorSettings,
        backend: ContainerBackend,
        store: ArtifactStore,
        validator_for: Callable[[RunRequest], Validator],
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.active: dict[str, RunExecution] = {}
        self.admission = Admission(settings.budget)
        self.uploader = ArtifactUploader(store, on_drained=self._drained)
        self.host = RunHost(
            backend=backend,
            store=store,
            uploader=self.uploader,
            admission=self.admission,
            runner_id=settings.runner_id,
            work_root=settings.work_root,
            store_wait_seconds=settings.store_wait_seconds,
            limits=settings.limits,
            start_pacer=StartPacer(settings.container_starts_per_second, settings.container_start_burst),
        )
        self._validator_for = validator_for
        self._timers: dict[str, asyncio.Task[None]] = {}
        #: Cancels of runs not known yet, by run id: (when, why); see `cancel`.
        self._early_cancels: dict[str, tuple[float, str]] = {}
        #: Background work the supervisor owns (disk releases, expiries); awaited at shutdown.
        self._chores: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None

    @property
    def runs_dir(self) -> Path:
        return self.settings.work_root / "runs"

    # -- runs --------------------------------------------------------------------------------------

    def execute(self, request: RunRequest) -> RunExecution:
        """Starts a run. Raises CapacityExceededError for a run larger than the whole budget and
        RunAlreadyActiveError for a run id this runner has already seen."""
        self.admission.check(request.claim)
        cancelled = self._early_cancels.pop(request.run_id, None)
        if cancelled is not None and time.monotonic() - cancelled[0] < EARLY_CANCEL_SECONDS:
            raise RunCancelledBeforeStartError(f"run {request.run_id} was cancelled before it started: {cancelled[1]}")
        if request.run_id in self.active or self.host.work_dir(request.run_id).exists():
            raise RunAlreadyActiveError(f"run {request.run_id} is already executing on this runner (attach to it)")
        execution = RunExecution.create(request, self.host, self._validator_for(request))
        self.active[request.run_id] = execution
        execution.start()
        self._arm(execution)  # until a follower shows up
        return execution

    async def follow(self, execution: RunExecution, after_seq: int) -> AsyncIterator[common_pb2.RunEventBatch]:
        """The run's events after `after_seq`, live until its last one; the stream ends only once the
        container is gone. Having sent everything is not having it stored: the run is kept until
        its caller releases it (`release`), or its retention time passes."""
        execution.followers += 1
        self._disarm(execution.request.run_id)
        try:
            async for batch in execution.sequencer.batches(after_seq):
                yield batch
            await execution.wait()
        finally:
            execution.followers -= 1
            if execution.followers == 0:
                if execution.done:
                    self._retire(execution)
                else:
                    self._arm(execution)

    def find(self, run_id: str) -> RunExecution | None:
        """The run in progress, or a finished one whose journal waits on disk for its caller."""
        execution = self.active.get(run_id)
        if execution is not None:
            return execution
        work_dir = self.host.work_dir(run_id)
        if not (work_dir / RUN_FILE).is_file() or not (work_dir / JOURNAL_FILE).is_file():
            return None
        try:
            execution = RunExecution.load(work_dir, self.host, self._validator_for)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            print(f"run {run_id}: retained journal is unreadable ({exc})", file=sys.stderr, flush=True)
            return None
        if not execution.sequencer.closed:  # only finished runs are ever retired
            execution.sequencer.release()
            return None
        self.active[run_id] = execution
        return execution

    async def release(self, run_id: str) -> bool:
        """Forgets a finished run whose caller has stored all of it; False when unknown or still going."""
        execution = self.active.get(run_id)
        if execution is not None:
            if not execution.done:
                return False
            await self._discard(execution)
            return True
        work_dir = self.host.work_dir(run_id)
        if not (work_dir / JOURNAL_FILE).is_file():
            return False
        await asyncio.to_thread(self._forget_dir, work_dir)
        return True

    def _retire(self, execution: RunExecution) -> None:
        """A finished run leaves memory (its journal file is closed) but its work dir stays until its
        caller releases it or `finished_retention_seconds` pass; `find` loads it back on an attach."""
        run_id = execution.request.run_id
        if self.active.get(run_id) is execution:
            del self.active[run_id]
            self._disarm(run_id)
            execution.sequencer.release()
            if not read_pending(execution.work_dir):
                # Its files are in the store: only the journal is kept, not the run's disk.
                self._background(asyncio.to_thread(release_disk, execution.work_dir), f"disk-{run_id}")

    def _background(self, work: Coroutine[object, object, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    @staticmethod
    def _forget_dir(work_dir: Path) -> None:
        """(In a worker thread.) Deletes a retired run's dir, or only its record while files in it
        still wait for the store (the uploader deletes the dir after)."""
        if read_pending(work_dir):
            for name in (RUN_FILE, JOURNAL_FILE):
                (work_dir / name).unlink(missing_ok=True)
        else:
            release_work_dir(work_dir)

    def expire_retired(self, now: float | None = None) -> list[str]:
        """Deletes the work dirs of finished runs nobody released within the retention time."""
        now = time.time() if now is None else now
        expired: list[str] = []
        if not self.runs_dir.is_dir():
            return expired
        for work_dir in self.runs_dir.iterdir():
            journal = work_dir / JOURNAL_FILE
            if work_dir.name in self.active or not journal.is_file():
                continue
            try:
                age = now - journal.stat().st_mtime
            except OSError:
                continue
            if age > self.settings.finished_retention_seconds:
                self._background(asyncio.to_thread(self._forget_dir, work_dir), f"expire-{work_dir.name}")
                expired.append(work_dir.name)
        if expired:
            print(f"retention: forgot {len(expired)} finished run(s) never released: {expired}", file=sys.stderr)
        return expired

    def lost_batch(self, run_id: str, after_seq: int, message: str) -> common_pb2.RunEventBatch:
        """The answer to an attach for a run this runner knows nothing of."""
        event = common_pb2.RunEvent(
            run_id=run_id,
            seq=after_seq + 1,
            time=now_timestamp(),
            status_change=common_pb2.StatusChange(
                state=common_pb2.RunState.RUN_STATE_LOST,
                reason=common_pb2.FailureReason.FAILURE_REASON_RUNNER_LOST,
                message=message,
            ),
        )
        return common_pb2.RunEventBatch(events=[event])

    async def cancel(self, run_id: str, reason: str) -> bool:
        execution = self.active.get(run_id)
        if execution is None:
            # Its ExecuteRun may still be on the way (a caller cancels as it places the run): remember
            # the cancel, so that the run is refused rather than left running with nobody following.
            if len(self._early_cancels) >= EARLY_CANCEL_MAX:
                self._early_cancels.pop(next(iter(self._early_cancels)))
            self._early_cancels[run_id] = (time.monotonic(), reason)
            return False
        await execution.cancel(reason)
        return True

    def usage(self) -> Usage:
        return self.admission.usage()

    # -- ownership of runs nobody follows ------------------------------------------------------------

    def _arm(self, execution: RunExecution) -> None:
        run_id = execution.request.run_id
        self._disarm(run_id)
        self._timers[run_id] = asyncio.create_task(self._expire(execution), name=f"unfollowed-{run_id}")

    def _disarm(self, run_id: str) -> None:
        timer = self._timers.pop(run_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _expire(self, execution: RunExecution) -> None:
        grace = self.settings.detach_grace_seconds
        await asyncio.sleep(grace)
        if execution.followers:
            return
        if not execution.done:
            await execution.cancel(f"nobody followed the run for {grace:g}s")
            await execution.wait()
        if not execution.followers:
            self._retire(execution)  # now finished: kept on disk for its caller like any other

    async def _discard(self, execution: RunExecution) -> None:
        run_id = execution.request.run_id
        if self.active.get(run_id) is execution:
            del self.active[run_id]
            self._disarm(run_id)
            await execution.discard()

    async def _drained(self, work_dir: Path) -> None:
        # Every handed-over file is in the store; the dir goes unless its run is still known here,
        # and only the disk goes while a finished run's journal waits for its caller's release.
        if work_dir.name in self.active:
            return
        if (work_dir / JOURNAL_FILE).is_file():
            await asyncio.to_thread(release_disk, work_dir)
        else:
            await asyncio.to_thread(release_work_dir, work_dir)

    # -- start-up, the reaper, shutdown ---------------------------------------------------------------

    async def start(self) -> RecoveryReport:
        """Recovers what a previous process left, then starts the reaper."""
        report = await self.recover()
        self._reaper = asyncio.create_task(self._reap_forever(), name="reaper")
        return report

    async def _containers(self) -> dict[str, list[ContainerState]]:
        found: dict[str, list[ContainerState]] = {}
        for container_id in await self.backend.find({RUNNER_LABEL: self.settings.runner_id}):
            state = await self.backend.inspect(container_id)
            if state is not None:
                found.setdefault(state.labels.get(RUN_LABEL, ""), []).append(state)
        return found

    async def recover(self) -> RecoveryReport:
        containers = await self._containers()
        reattached: list[str] = []
        finished: list[str] = []
        lost: list[str] = []
        restarted: list[str] = []
        reaped: list[str] = []
        run_dirs = sorted(p for p in self.runs_dir.iterdir() if p.is_dir()) if self.runs_dir.is_dir() else []
        for work_dir in run_dirs:
            run_id = work_dir.name
            if run_id in self.active:
                continue
            if not (work_dir / RUN_FILE).is_file() or not (work_dir / JOURNAL_FILE).is_file():
                if not (work_dir / PENDING_FILE).is_file():
                    release_work_dir(work_dir)  # died before the run was recorded
                continue
            try:
                execution = RunExecution.load(work_dir, self.host, self._validator_for)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                print(f"recovery: run dir {work_dir} is unreadable ({exc}); left for inspection", file=sys.stderr)
                continue
            found = containers.pop(run_id, [])
            self.active[run_id] = execution
            if execution.sequencer.closed:
                finished.append(run_id)  # ended before the restart; kept on disk until its caller releases it
                for extra in found:
                    await self.backend.remove(extra.container_id)
                    reaped.append(extra.container_id)
                self._retire(execution)
                continue
            else:
                state = found.pop(0) if found else None
                execution.recover(
                    state.container_id if state else None,
                    state.status if state else "",
                    state.started_at if state else None,
                )
                if state is not None:
                    reattached.append(run_id)
                else:
                    (lost if execution.recovered else restarted).append(run_id)
            for extra in found:
                await self.backend.remove(extra.container_id)
                reaped.append(extra.container_id)
            self._arm(execution)
        for states in containers.values():
            for state in states:
                await self.backend.remove(state.container_id)
                reaped.append(state.container_id)
        resumed = [p.name for p in self.uploader.resume(self.runs_dir)]
        # Disks of runs nobody holds any more (the runner died while releasing them).
        released: list[str] = []
        for mount in stale_mounts(self.runs_dir, keep=set(self.active) | set(resumed)):
            await asyncio.to_thread(release_work_dir, mount.parent)
            released.append(mount.parent.name)
        report = RecoveryReport(reattached, finished, lost, restarted, reaped, resumed, released)
        if any((reattached, finished, lost, restarted, reaped, resumed, released)):
            print(f"recovery: {report}", file=sys.stderr, flush=True)
        return report

    async def reap(self) -> list[str]:
        """Removes containers labelled with this runner's id that no run in progress owns."""
        removed = []
        for run_id, states in (await self._containers()).items():
            execution = self.active.get(run_id)
            for state in states:
                owned = (
                    execution is not None
                    and not execution.done
                    and execution.container_id in (None, state.container_id)
                )
                if not owned:
                    current = await self.backend.inspect(state.container_id)
                    if current is None or current.status == "removing":
                        continue  # its run removed it since the listing: not the reaper's doing
                    await self.backend.remove(state.container_id)
                    removed.append(state.container_id)
        if removed:
            print(f"reaper: removed containers no run owns: {removed}", file=sys.stderr, flush=True)
        return removed

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            try:
                await self.reap()
                self.expire_retired()
            except MleReduxError as exc:
                print(f"reaper: {exc}", file=sys.stderr, flush=True)

    async def shutdown(self) -> None:
        """Cancels every run in progress; each removes its container before its stream ends."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        running = [e for e in self.active.values() if not e.done]
        await asyncio.gather(*(e.cancel("the runner is shutting down") for e in running))
        await asyncio.gather(*(e.wait() for e in running))
        for timer in list(self._timers.values()):
            timer.cancel()
        await asyncio.gather(*self._timers.values(), return_exceptions=True)
        self._timers.clear()
        await asyncio.gather(*list(self._chores), return_exceptions=True)
        await self.uploader.close()
