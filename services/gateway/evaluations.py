"""Evaluations in the gateway: an agent x a competition set x seeds, driven as ordinary runs.

Each evaluation has one driver task. It creates the runs of its cells (a competition in one seed,
env `SEED`) through the run orchestrator, never more than the evaluation's concurrency cap in flight
(the orchestrator's fair scheduler then places them among everyone's runs), and records each cell's
outcome as its run ends. A run that ended for a system reason (runner lost, store down, grader
error, image missing, preparation failed, an internal error, or cancelled by a gateway shutdown) is
retried up to `max_attempts`; a cell still failing then is a system failure, counted as MLE-bench's
zero report and reported apart. An agent's failure (no or invalid submission, OOM, time limit, a
crash) stands.

Figures are kept by `mleredux.evaluation.aggregate.Aggregate`, updated per finished cell; each cell
change is persisted with the evaluation's counts and figures and a progress event in one
transaction (see `evaluation_state`), which is what `WatchEvaluation` replays and follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import math
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import json_format

from mleredux.errors import InvalidArgumentError, MleReduxError, RunNotFoundError, UnknownCompetitionError
from mleredux.evaluation.aggregate import FIGURES, Aggregate, Outcome
from mleredux.evaluation.splits import split_competitions
from mleredux.images import resolve_agent_image
from mleredux.store import ArtifactStore
from mleredux.timestamps import now_timestamp
from mleredux.v1 import common_pb2, competitions_pb2, gateway_pb2, preparer_pb2, preparer_pb2_grpc
from services.gateway.agents import ResolvedAgent, agent_run
from services.gateway.auth import Principal
from services.gateway.evaluation_hints import Hints
from services.gateway.evaluation_state import (
    EvaluationDatabase,
    EvaluationNotFoundError,
    cells_write,
    create_write,
    record_write,
)
from services.gateway.model_quota import ModelQuota, ModelQuotaExhaustedError, within_quota
from services.gateway.orchestration import EventHub, RunOrchestrator, run_demand
from services.gateway.state import RunDatabase, is_terminal
from technique_tasks.base import get_task

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason
EvaluationState = gateway_pb2.EvaluationState

#: Failure reasons that are the system's fault: the run is retried, and if it keeps failing, reported apart.
SYSTEM_REASONS = frozenset(
    {
        FailureReason.FAILURE_REASON_IMAGE_MISSING,
        FailureReason.FAILURE_REASON_STORE_UNAVAILABLE,
        FailureReason.FAILURE_REASON_RUNNER_LOST,
        FailureReason.FAILURE_REASON_PREPARE_FAILED,
        FailureReason.FAILURE_REASON_GRADER_ERROR,
        FailureReason.FAILURE_REASON_INTERNAL,
    }
)
#: How long a driver or watcher sleeps when nothing wakes it (a safety net, not the mechanism).
POLL_SECONDS = 1.0
#: Where a hinted run finds its hints (the runner mounts them there read-only).
HINTS_DIR = "/home/hints"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMPLEXITY = {
    competitions_pb2.Complexity.COMPLEXITY_LOW: "low",
    competitions_pb2.Complexity.COMPLEXITY_MEDIUM: "medium",
    competitions_pb2.Complexity.COMPLEXITY_HIGH: "high",
}


@dataclass(frozen=True)
class EvaluationLimits:
    """What one evaluation may ask for (docs/limits.md, "Evaluations")."""

    #: Seeds per competition (MLE-bench reports 3 to 10; large counts are for load tests on the demos).
    max_seeds: int = 400
    #: Cells (competitions x seeds) in one evaluation.
    max_cells: int = 2000
    #: Runs of one evaluation in flight when the request leaves it unset.
    default_concurrency: int = 4
    #: The largest concurrency cap a request may set.
    max_concurrency: int = 64
    #: Attempts per cell on system failures when the request leaves it unset.
    default_max_attempts: int = 3
    #: The largest max_attempts a request may set.
    max_attempts: int = 5
    #: Characters in an evaluation's name.
    max_name_chars: int = 200
    #: Evaluations one user may have running at once (admins too); 0 for no limit.
    max_running_per_user: int = 10


class GatewayClosingError(MleReduxError):
    grpc_code = "UNAVAILABLE"


class EvaluationRunningError(MleReduxError):
    grpc_code = "FAILED_PRECONDITION"


class TooManyEvaluationsError(MleReduxError):
    grpc_code = "RESOURCE_EXHAUSTED"


class CompetitionUnavailableError(MleReduxError):
    """A competition of the set is neither prepared nor preparable on the preparer's host."""

    grpc_code = "FAILED_PRECONDITION"


#: Preparation states a competition of an evaluation may be in (anything else is refused at create time).
_PREPARABLE = frozenset(
    {
        competitions_pb2.PreparationState.PREPARATION_STATE_PREPARED,
        competitions_pb2.PreparationState.PREPARATION_STATE_OFFLINE,
        competitions_pb2.PreparationState.PREPARATION_STATE_DOWNLOADED,
        competitions_pb2.PreparationState.PREPARATION_STATE_DOWNLOADABLE,
    }
)


def evaluation_agent(evaluation: gateway_pb2.Evaluation) -> ResolvedAgent:
    """The agent as it was resolved when the evaluation was created: every run of it runs that."""
    return ResolvedAgent(
        evaluation.image,
        evaluation.agent_resource,
        evaluation.agent_digest,
        evaluation.agent_commit,
        evaluation.agent_manifest,
    )


def _outcome_of(cell: gateway_pb2.EvaluationRun) -> Outcome:
    if not cell.HasField("report"):
        return Outcome.zero(cell.competition_id, cell.seed)
    report = json_format.MessageToDict(cell.report, preserving_proto_field_name=True)
    report["competition_id"] = cell.competition_id
    return Outcome.from_report(report, cell.seed)


def _category(cell: gateway_pb2.EvaluationRun) -> str:
    """Which progress count a cell belongs to."""
    if not cell.done:
        return "running" if cell.run_id else "queued"
    if cell.system_failure:
        return "system_failures"
    if cell.state == RunState.RUN_STATE_SUCCEEDED:
        return "succeeded"
    if cell.state in (RunState.RUN_STATE_CANCELLED, RunState.RUN_STATE_UNSPECIFIED):
        return "cancelled"
    return "agent_failures"


def _fill_figures(evaluation: gateway_pb2.Evaluation, aggregate: Aggregate) -> None:
    del evaluation.figures[:]
    for group in aggregate.all_groups():
        message = evaluation.figures.add(group=group.group, competitions=group.competitions, seeds=group.seeds)
        for figure in FIGURES:
            value = group.figures[figure]
            getattr(message, figure).CopyFrom(
                gateway_pb2.EvaluationFigure(
                    mean=value.mean,
                    standard_error=value.standard_error,
                    ci_lower=value.ci_lower,
                    ci_upper=value.ci_upper,
                )
            )
    del evaluation.competitions[:]
    for row in aggregate.competitions():
        entry = evaluation.competitions.add(
            competition_id=row.competition_id, complexity=row.complexity, scored=row.scored
        )
        for name in ("score_mean", "score_std", "score_min", "score_max"):
            value = getattr(row, name)
            if value is not None:
                setattr(entry, name, value)


class _Driver:
    """Drives one evaluation's cells to their outcomes."""

    def __init__(
        self,
        service: EvaluationService,
        evaluation: gateway_pb2.Evaluation,
        cells: Sequence[gateway_pb2.EvaluationRun] | None = None,
    ) -> None:
        """`cells` are the evaluation's cells as they stand, when their write may not be committed yet."""
        self.service = service
        self.evaluation = evaluation
        if cells is None:
            cells = service.db.cells(evaluation.evaluation_id)
        self.cells: dict[tuple[int, str], gateway_pb2.EvaluationRun] = {(c.seed, c.competition_id): c for c in cells}
        self.aggregate = Aggregate(
            list(evaluation.competition_ids),
            evaluation.seeds,
            {c.competition_id: c.complexity for c in self.cells.values()},
        )
        self.counts: dict[str, int] = dict.fromkeys(
            ("queued", "running", "succeeded", "agent_failures", "system_failures", "cancelled"), 0
        )
        self.retries = 0
        self.medals = 0
        # Carried over from the stored counts: the attempts behind them are not all in the cells any more.
        self.run_seconds = evaluation.progress.run_seconds
        self.cpu_core_seconds = evaluation.progress.cpu_core_seconds
        self.model_usage = common_pb2.ModelUsage()
        self.model_usage.CopyFrom(evaluation.progress.model_usage)
        for cell in self.cells.values():
            self.counts[_category(cell)] += 1
            self.retries += len(cell.retried_run_ids)
            if cell.done:
                outcome = _outcome_of(cell)
                self.aggregate.add(outcome)
                self.medals += outcome.any_medal
        #: run id -> the cell it stands for, for runs not yet seen to end.
        self.in_flight: dict[str, tuple[int, str]] = {
            cell.run_id: key for key, cell in self.cells.items() if cell.run_id and not cell.done
        }
        # Seed-major order: seed 1 of every competition first, so whole seeds complete early.
        order = {cid: i for i, cid in enumerate(evaluation.competition_ids)}
        self.pending: list[tuple[int, str]] = [
            key
            for key in sorted(self.cells, key=lambda k: (k[0], order[k[1]]))
            if not self.cells[key].run_id and not self.cells[key].done
        ]

    # -- recording ---------------------------------------------------------------------------------

    def progress(self) -> gateway_pb2.EvaluationProgress:
        return gateway_pb2.EvaluationProgress(
            total=len(self.cells),
            done=len(self.cells) - self.counts["queued"] - self.counts["running"],
            retries=self.retries,
            medals=self.medals,
            run_seconds=self.run_seconds,
            cpu_core_seconds=self.cpu_core_seconds,
            model_usage=self.model_usage,
            **self.counts,
        )

    def record(
        self,
        message: str,
        cell: gateway_pb2.EvaluationRun | None = None,
        before: str | None = None,
        also: list[gateway_pb2.EvaluationRun] | None = None,
    ) -> None:
        if cell is not None and before is not None:
            self.counts[before] -= 1
            self.counts[_category(cell)] += 1
        ev = self.evaluation
        if ev.state == EvaluationState.EVALUATION_STATE_RUNNING:
            ev.message = message  # the latest change, for GetEvaluation and the viewer
        ev.progress.CopyFrom(self.progress())
        _fill_figures(ev, self.aggregate)
        event = gateway_pb2.EvaluationEvent(
            evaluation_id=ev.evaluation_id,
            seq=ev.last_seq + 1,
            time=now_timestamp(),
            run=cell,
            progress=ev.progress,
            state=ev.state,
            message=message,
        )
        # Written by the gateway's one writer thread, in order with the runs' writes: the event loop
        # never waits for SQLite's lock. Watchers hear of the event once it is committed.
        write = record_write(ev, event, ([cell] if cell is not None else []) + (also or []))
        evaluation_id = ev.evaluation_id
        self.service.orchestrator.writer.enqueue(write, lambda: self.service.hub.notify(evaluation_id))

    # -- runs --------------------------------------------------------------------------------------

    async def _submit(self, key: tuple[int, str], run_id: str) -> None:
        seed, competition_id = key
        ev = self.evaluation
        # In flight from here on: a cancel (or a restart) that comes while the hints are copied finds
        # the cell, and a run that was never created is handled as such.
        self.in_flight[run_id] = key
        if ev.hint_run_ids:
            await asyncio.to_thread(self.service.hints.give, ev.evaluation_id, competition_id, run_id)
        # The agent's fields exactly as CreateRun fills them (image, digest, commit, manifest defaults).
        run = agent_run(
            evaluation_agent(ev),
            name=ev.agent,
            compute=ev.compute,
            # HINTS_DIR tells the runner (and the agent) that hints wait in the store for this run.
            env={**ev.env, "SEED": str(seed), **({"HINTS_DIR": HINTS_DIR} if ev.hint_run_ids else {})},
        )
        run.MergeFrom(
            gateway_pb2.Run(
                run_id=run_id,
                competition_id=competition_id,
                task=ev.task,
                state=RunState.RUN_STATE_QUEUED,
                create_time=now_timestamp(),
                owner=ev.owner,
            )
        )
        if ev.model_access.endpoints:
            try:
                # As CreateRun does: the budgets lowered to what the owner has left today. No await
                # between this and `submit`, so two runs cannot share one remainder.
                access = within_quota(ev.model_access, self.service.model_quota, self.service.runs, ev.owner)
            except ModelQuotaExhaustedError as exc:
                # No run is made; the cell fails for a reason that is neither the agent's nor
                # retried away (the quota refills over 24 hours): reported as a system failure.
                del self.in_flight[run_id]
                failed = gateway_pb2.Run(
                    run_id=run_id,
                    state=RunState.RUN_STATE_FAILED,
                    failure_reason=FailureReason.FAILURE_REASON_INTERNAL,
                    message=f"no run created: {exc}",
                )
                self.cells[key].attempts = max(self.cells[key].attempts, ev.max_attempts)
                await self._ended(key, failed)
                return
            run.model_access.CopyFrom(access)
        await self.service.orchestrator.submit(run)

    async def _start(self, key: tuple[int, str], message: str) -> None:
        # The cell names its run before the run exists: a gateway that dies in between finds a
        # cell whose run is missing and creates it then, instead of leaving an orphan run.
        cell = self.cells[key]
        before = _category(cell)
        cell.run_id = uuid.uuid4().hex[:16]
        cell.attempts += 1
        cell.state = RunState.RUN_STATE_QUEUED
        cell.failure_reason = FailureReason.FAILURE_REASON_UNSPECIFIED
        cell.ClearField("report")
        self.record(message, cell, before)
        await self._submit(key, cell.run_id)

    async def _ended(self, key: tuple[int, str], run: gateway_pb2.Run) -> None:
        cell = self.cells[key]
        before = _category(cell)
        cell.state = run.state
        cell.failure_reason = run.failure_reason
        if run.HasField("end_time"):
            cell.wall_seconds = (run.end_time.ToNanoseconds() - run.create_time.ToNanoseconds()) / 1e9
            self.run_seconds += cell.wall_seconds
            self.cpu_core_seconds += cell.wall_seconds * run_demand(run).cpus
        if run.HasField("model_usage"):
            used = run.model_usage
            self.model_usage.calls += used.calls
            self.model_usage.input_tokens += used.input_tokens
            self.model_usage.output_tokens += used.output_tokens
            self.model_usage.cost_usd += used.cost_usd
            self.model_usage.refused += used.refused
        if run.HasField("report"):
            cell.report.CopyFrom(run.report)
        system = (
            run.state == RunState.RUN_STATE_LOST
            or run.failure_reason in SYSTEM_REASONS
            # Not cancelled with the evaluation (the driver is stopped first then): a gateway shutdown.
            or run.state == RunState.RUN_STATE_CANCELLED
        )
        reason = FailureReason.Name(run.failure_reason).removeprefix("FAILURE_REASON_").lower()
        where = f"{cell.competition_id} seed {cell.seed}"
        if system and cell.attempts < self.evaluation.max_attempts:
            cell.retried_run_ids.append(run.run_id)
            self.retries += 1
            self.counts[before] -= 1
            self.counts["queued"] += 1
            cell.run_id = ""
            await self._start(
                key,
                f"{where}: run {run.run_id} failed for a system reason ({reason}: {run.message}); "
                f"retrying (attempt {cell.attempts + 1} of {self.evaluation.max_attempts})",
            )
            return
        cell.done = True
        cell.system_failure = system
        outcome = _outcome_of(cell)
        self.aggregate.add(outcome)
        self.medals += outcome.any_medal
        if system:
            text = f"{where}: system failure after {cell.attempts} attempts ({reason}: {run.message})"
        elif run.state == RunState.RUN_STATE_SUCCEEDED:
            text = f"{where}: {run.message}" + (" (medal)" if outcome.any_medal else "")
        else:
            text = f"{where}: agent failure ({reason}: {run.message})"
        self.record(text, cell, before)

    async def _check(self) -> None:
        for run_id, key in list(self.in_flight.items()):
            try:
                run = self.service.runs.get_run(run_id)
            except RunNotFoundError:
                # Named but never created (the gateway died in between): create it now.
                del self.in_flight[run_id]
                await self._submit(key, run_id)
                continue
            if is_terminal(run.state):
                del self.in_flight[run_id]
                await self._ended(key, run)

    async def _wait(self) -> None:
        # Each run's event is taken before anything else runs, so a run ending meanwhile wakes us.
        hub = self.service.run_hub
        waits = [asyncio.ensure_future(hub.next_notify(r).wait()) for r in self.in_flight]
        if not waits:
            return
        try:
            await asyncio.wait(waits, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def drive(self) -> None:
        ev = self.evaluation
        try:
            while True:
                await self._check()
                while self.pending and len(self.in_flight) < ev.concurrency:
                    key = self.pending.pop(0)
                    await self._start(key, f"{key[1]} seed {key[0]}: run created")
                if not self.in_flight and not self.pending:
                    break
                await self._wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the evaluation must end with a reason, not hang RUNNING
            print(f"evaluation {ev.evaluation_id}: internal error: {exc!r}", file=sys.stderr, flush=True)
            ev.message = f"evaluation stopped by a gateway error: {type(exc).__name__}: {exc}"
            raise
        p = self.progress()
        ev.state = EvaluationState.EVALUATION_STATE_SUCCEEDED
        ev.message = (
            f"{p.total} runs ended: {p.succeeded} succeeded, {p.agent_failures} agent failures, "
            f"{p.system_failures} system failures ({p.retries} retries)"
        )
        ev.end_time.CopyFrom(now_timestamp())
        self.record(ev.message)

    async def cancel(self) -> None:
        """Called with the drive task already stopped: cancels the runs in flight, closes every cell."""

        async def stop(run_id: str) -> None:
            with contextlib.suppress(RunNotFoundError):  # named, never created
                await self.service.orchestrator.cancel(run_id, "the evaluation was cancelled")

        ids = list(self.in_flight)
        await asyncio.gather(*(stop(r) for r in ids))
        for run_id in ids:
            key = self.in_flight.pop(run_id)
            cell = self.cells[key]
            before = _category(cell)
            try:
                run = self.service.runs.get_run(run_id)
            except RunNotFoundError:
                run = gateway_pb2.Run(state=RunState.RUN_STATE_CANCELLED)
            cell.state = run.state
            cell.failure_reason = run.failure_reason
            if run.HasField("report"):
                cell.report.CopyFrom(run.report)
            cell.done = True
            if run.state != RunState.RUN_STATE_CANCELLED:
                outcome = _outcome_of(cell)  # it ended on its own just before the cancel reached it
                self.aggregate.add(outcome)
                self.medals += outcome.any_medal
            self.record(f"{cell.competition_id} seed {cell.seed}: cancelled with the evaluation", cell, before)
        closed = []
        for key in self.pending:
            cell = self.cells[key]
            before = _category(cell)
            cell.done = True
            self.counts[before] -= 1
            self.counts[_category(cell)] += 1
            closed.append(cell)
        self.pending.clear()
        ev = self.evaluation
        ev.state = EvaluationState.EVALUATION_STATE_CANCELLED
        ev.message = "cancelled by the user; runs that had ended keep their results"
        ev.end_time.CopyFrom(now_timestamp())
        self.record(ev.message, also=closed)


class EvaluationService:
    """The evaluation RPCs' logic; the servicer only delegates to it."""

    def __init__(
        self,
        db: EvaluationDatabase,
        runs: RunDatabase,
        orchestrator: RunOrchestrator,
        run_hub: EventHub,
        preparer: preparer_pb2_grpc.PreparerServiceStub,
        store: ArtifactStore,
        limits: EvaluationLimits | None = None,
        closing: Callable[[], bool] = lambda: False,
        model_quota: ModelQuota | None = None,
    ) -> None:
        self.hints = Hints(store)
        #: The per-user daily model quota every run's model budgets are lowered to (as CreateRun's).
        self.model_quota = model_quota or ModelQuota()
        self.db = db
        self.runs = runs
        self.orchestrator = orchestrator
        self.run_hub = run_hub
        self.preparer = preparer
        self.limits = limits or EvaluationLimits()
        self.closing = closing
        self.hub = EventHub()
        self._drivers: dict[str, _Driver] = {}
        #: The agent a caller's agent name stands for; the gateway sets its agent registry's resolver.
        self.resolve_agent: Callable[[Principal, str], ResolvedAgent] = lambda _caller, agent: ResolvedAgent(
            resolve_agent_image(agent), "", "", "", common_pb2.AgentManifest()
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- creating ----------------------------------------------------------------------------------

    async def _registry(self) -> dict[str, competitions_pb2.Competition]:
        found: dict[str, competitions_pb2.Competition] = {}
        token = ""
        while True:
            try:
                page = await self.preparer.ListCompetitions(
                    preparer_pb2.PreparerServiceListCompetitionsRequest(page_token=token, page_size=500), timeout=30
                )
            except grpc.aio.AioRpcError as exc:
                raise GatewayClosingError(f"the preparer could not list competitions: {exc.details()}") from None
            found.update((c.id, c) for c in page.competitions)
            token = page.next_page_token
            if not token:
                return found

    def _validate_spec(self, request: gateway_pb2.CreateEvaluationRequest) -> None:
        limits = self.limits
        if not request.agent:
            raise InvalidArgumentError("agent is required (e.g. dummy, or an image reference NAME:TAG)")
        if request.seeds < 1:
            raise InvalidArgumentError(f"seeds must be at least 1 (got {request.seeds})")
        if request.seeds > limits.max_seeds:
            raise InvalidArgumentError(f"seeds must be at most {limits.max_seeds} (got {request.seeds})")
        if request.concurrency < 0 or request.concurrency > limits.max_concurrency:
            raise InvalidArgumentError(
                f"concurrency must be between 1 and {limits.max_concurrency}, or 0 for the default "
                f"{limits.default_concurrency} (got {request.concurrency})"
            )
        if request.max_attempts < 0 or request.max_attempts > limits.max_attempts:
            raise InvalidArgumentError(
                f"max_attempts must be between 1 and {limits.max_attempts}, or 0 for the default "
                f"{limits.default_max_attempts} (got {request.max_attempts})"
            )
        if request.task:
            get_task(request.task)  # an unknown task fails here, listing the six
        if request.hint_run_ids and request.hint_evaluation_id:
            raise InvalidArgumentError("give either hint_run_ids or hint_evaluation_id, not both")
        if len(request.name) > limits.max_name_chars:
            raise InvalidArgumentError(f"name must be at most {limits.max_name_chars} characters")
        compute = request.compute
        for name in ("cpus", "memory_bytes", "gpus", "time_limit_seconds", "pids_limit", "shm_bytes"):
            if getattr(compute, name) < 0:
                raise InvalidArgumentError(f"compute.{name} must not be negative")
        if not math.isfinite(compute.cpus):
            raise InvalidArgumentError("compute.cpus must be a finite number")
        for name, value in request.env.items():
            if name == "SEED":
                raise InvalidArgumentError("env.SEED is set by the evaluation (1..seeds); leave it out")
            if name == "HINTS_DIR":
                raise InvalidArgumentError("env.HINTS_DIR is set by the evaluation when it gives hints; leave it out")
            if not _ENV_NAME.match(name):
                raise InvalidArgumentError(f"env: {name!r} is not a variable name (letters, digits and _)")
            if "\0" in value:
                raise InvalidArgumentError(f"env.{name} must not contain a NUL character")

    async def _competition_set(self, request: gateway_pb2.CreateEvaluationRequest) -> tuple[list[str], dict[str, str]]:
        if request.split and request.competition_ids:
            raise InvalidArgumentError("give either competition_ids or split, not both")
        if request.split:
            ids = split_competitions(request.split)
        elif request.competition_ids:
            ids = list(request.competition_ids)
            repeated = sorted({c for c in ids if ids.count(c) > 1})
            if repeated:
                raise InvalidArgumentError(f"competition_ids lists {', '.join(repeated)} more than once")
        else:
            raise InvalidArgumentError("a competition set is required: competition_ids or a split name")
        registry = await self._registry()
        for cid in ids:
            if cid not in registry:
                close = difflib.get_close_matches(cid, sorted(registry), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UnknownCompetitionError(f"unknown competition {cid!r}.{hint}")
        unsupported = [cid for cid in ids if not registry[cid].supported]
        if unsupported:
            shown = ", ".join(unsupported[:10]) + (
                f" and {len(unsupported) - 10} more" if len(unsupported) > 10 else ""
            )
            where = f"split {request.split!r}" if request.split else "the competition set"
            raise InvalidArgumentError(
                f"{where} has {len(unsupported)} competition(s) that are listed but not supported yet "
                f"(no preparation or grader module): {shown}"
            )
        await self._check_preparable(ids)
        return ids, {cid: _COMPLEXITY.get(registry[cid].complexity, "low") for cid in ids}

    async def _check_preparable(self, ids: list[str]) -> None:
        """Every competition of the set is prepared or preparable on the preparer's host, or the
        evaluation is refused now, naming each one that is not and why (instead of failed runs later)."""

        async def state_of(cid: str) -> competitions_pb2.Preparation:
            try:
                answer = await self.preparer.GetCompetition(
                    preparer_pb2.PreparerServiceGetCompetitionRequest(competition_id=cid), timeout=30
                )
            except grpc.aio.AioRpcError as exc:
                raise GatewayClosingError(
                    f"the preparer could not say whether {cid} can be prepared: {exc.details()}"
                ) from None
            return answer.preparation

        found = await asyncio.gather(*(state_of(cid) for cid in ids))
        refused = [(cid, p) for cid, p in zip(ids, found, strict=True) if p.state not in _PREPARABLE]
        if refused:
            shown = "; ".join(p.message or f"{cid} cannot be prepared" for cid, p in refused[:5])
            more = f"; and {len(refused) - 5} more" if len(refused) > 5 else ""
            raise CompetitionUnavailableError(
                f"{len(refused)} competition(s) of the set are neither prepared nor preparable here "
                f"({', '.join(cid for cid, _ in refused)}): {shown}{more}"
            )

    async def create(self, caller: Principal, request: gateway_pb2.CreateEvaluationRequest) -> gateway_pb2.Evaluation:
        self._validate_spec(request)
        ids, complexity = await self._competition_set(request)
        cells = len(ids) * request.seeds
        if cells > self.limits.max_cells:
            raise InvalidArgumentError(
                f"{len(ids)} competitions x {request.seeds} seeds = {cells} runs; an evaluation may have at most "
                f"{self.limits.max_cells}"
            )
        limit = self.limits.max_running_per_user
        if limit and sum(1 for d in self._drivers.values() if d.evaluation.owner == caller.user) >= limit:
            raise TooManyEvaluationsError(
                f"you have {limit} evaluations running, the most one user may have; wait for one or cancel one"
            )
        # The agent as CreateRun would resolve it for this caller (their namespace, built-ins, shared).
        agent = self.resolve_agent(caller, request.agent)
        if request.model_access.endpoints:
            # A quota already used up fails here, not run by run.
            within_quota(request.model_access, self.model_quota, self.runs, caller.user)
        if request.hint_evaluation_id:
            hint_runs = await self._hint_evaluation_runs(caller, request.hint_evaluation_id, ids)
        else:
            hint_runs = [self._hint_run(caller, run_id, ids) for run_id in request.hint_run_ids]
        evaluation = gateway_pb2.Evaluation(
            evaluation_id="ev" + uuid.uuid4().hex[:14],
            name=request.name,
            owner=caller.user,
            agent=request.agent,
            image=agent.image,
            agent_resource=agent.resource,
            agent_digest=agent.digest,
            agent_commit=agent.commit,
            agent_manifest=agent.manifest,
            task=request.task,
            competition_ids=ids,
            split=request.split,
            seeds=request.seeds,
            concurrency=request.concurrency or self.limits.default_concurrency,
            compute=request.compute,
            max_attempts=request.max_attempts or self.limits.default_max_attempts,
            env=dict(request.env),
            hint_run_ids=[run.run_id for run in hint_runs],
            hint_evaluation_id=request.hint_evaluation_id,
            hint_rollouts=request.hint_rollouts,
            model_access=request.model_access,
            state=EvaluationState.EVALUATION_STATE_RUNNING,
            message="started",
            create_time=now_timestamp(),
        )
        if hint_runs:
            await asyncio.to_thread(
                self.hints.assemble, evaluation.evaluation_id, hint_runs, rollouts=request.hint_rollouts
            )
        runs = [
            gateway_pb2.EvaluationRun(competition_id=cid, seed=seed, complexity=complexity[cid])
            for seed in range(1, request.seeds + 1)
            for cid in ids
        ]
        # By the writer thread, as every later record of the evaluation: the loop never waits for the
        # database's lock, and the driver starts only on a committed evaluation.
        await self.orchestrator.writer.append(create_write(evaluation, runs))
        driver = self._start(evaluation)
        driver.record(f"started: {request.agent} on {len(ids)} competitions x {request.seeds} seeds")
        return self.get(caller, evaluation.evaluation_id)

    def _hint_run(self, caller: Principal, run_id: str, competition_ids: list[str]) -> gateway_pb2.Run:
        """A technique-task run the caller may see, on a competition of the set, with its analysis stored."""
        try:
            run = self.runs.get_run(run_id)
        except RunNotFoundError:
            raise RunNotFoundError(f"hint_run_ids: no run {run_id!r}") from None
        if not caller.may_see(run.owner):
            raise RunNotFoundError(f"hint_run_ids: no run {run_id!r}")
        if not run.task:
            raise InvalidArgumentError(
                f"hint_run_ids: run {run_id} is not a technique-task run (hints are technique analyses)"
            )
        if run.competition_id not in competition_ids:
            raise InvalidArgumentError(
                f"hint_run_ids: run {run_id} is on {run.competition_id}, which is not in the evaluation's set"
            )
        if not self.hints.has_analysis(run):
            raise InvalidArgumentError(f"hint_run_ids: run {run_id} ({run.task}) has no stored analysis to give")
        return run

    async def _hint_evaluation_runs(
        self, caller: Principal, hint_evaluation_id: str, competition_ids: list[str]
    ) -> list[gateway_pb2.Run]:
        """The runs of an ended technique-task evaluation the caller may see whose analyses are stored,
        on the competitions of the new set; every competition of the set must have at least one."""
        where = f"hint_evaluation_id: evaluation {hint_evaluation_id}"
        try:
            source = self._owned(caller, hint_evaluation_id)
        except EvaluationNotFoundError:
            raise EvaluationNotFoundError(f"hint_evaluation_id: no evaluation {hint_evaluation_id!r}") from None
        if source.state == EvaluationState.EVALUATION_STATE_RUNNING:
            raise EvaluationRunningError(f"{where} is still running; hints are taken from an ended evaluation")
        if not source.task:
            raise InvalidArgumentError(
                f"{where} ran plain competition runs; hints are technique-task analyses, so take them from an "
                "evaluation created with a task (eval create --task TASK)"
            )
        theirs = set(source.competition_ids)
        missing = [cid for cid in competition_ids if cid not in theirs]
        if missing:
            first = "hints from an evaluation on other competitions: " if len(missing) == len(competition_ids) else ""
            raise InvalidArgumentError(
                f"{first}{where} has no runs on {', '.join(missing)} (its competitions: "
                f"{', '.join(source.competition_ids)}); every competition of this evaluation needs its hints"
            )
        wanted = set(competition_ids)
        cells = [c for c in self.db.cells(hint_evaluation_id) if c.competition_id in wanted and c.run_id]

        candidates = []
        for cell in sorted(cells, key=lambda c: (c.competition_id, c.seed)):
            try:
                candidates.append(self.runs.get_run(cell.run_id))
            except RunNotFoundError:
                continue  # pruned since
        # The store is asked off the event loop (an S3 store answers over the network).
        runs = await asyncio.to_thread(lambda: [r for r in candidates if r.task and self.hints.has_analysis(r)])
        bare = [cid for cid in competition_ids if not any(r.competition_id == cid for r in runs)]
        if bare:
            raise InvalidArgumentError(
                f"{where} has no stored {source.task} analysis on {', '.join(bare)} (none of its runs there wrote "
                "one); leave those competitions out, or take hints from an evaluation whose runs did"
            )
        return runs

    def _start(
        self, evaluation: gateway_pb2.Evaluation, cells: Sequence[gateway_pb2.EvaluationRun] | None = None
    ) -> _Driver:
        driver = _Driver(self, evaluation, cells)
        evaluation_id = evaluation.evaluation_id
        self._drivers[evaluation_id] = driver
        task = asyncio.create_task(self._drive(driver), name=f"evaluation-{evaluation_id}")
        self._tasks[evaluation_id] = task
        return driver

    async def _drive(self, driver: _Driver) -> None:
        evaluation_id = driver.evaluation.evaluation_id
        try:
            await driver.drive()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The message says why; the evaluation is resumed (state RUNNING) at the next start.
            with contextlib.suppress(Exception):
                driver.record(driver.evaluation.message)
        finally:
            try:
                # Read from the database from now on: its last records must be committed first.
                await asyncio.shield(self.orchestrator.writer.flush())
            finally:
                self._drivers.pop(evaluation_id, None)
                self._tasks.pop(evaluation_id, None)

    # -- reading -----------------------------------------------------------------------------------

    def _owned(self, caller: Principal, evaluation_id: str) -> gateway_pb2.Evaluation:
        if not evaluation_id:
            raise InvalidArgumentError("evaluation_id is required")
        driver = self._drivers.get(evaluation_id)
        evaluation = driver.evaluation if driver is not None else self.db.get(evaluation_id)
        if not caller.may_see(evaluation.owner):
            raise EvaluationNotFoundError(f"no evaluation {evaluation_id!r}")
        return evaluation

    def get(self, caller: Principal, evaluation_id: str) -> gateway_pb2.Evaluation:
        evaluation = gateway_pb2.Evaluation()
        evaluation.CopyFrom(self._owned(caller, evaluation_id))
        driver = self._drivers.get(evaluation_id)
        cells = list(driver.cells.values()) if driver is not None else self.db.cells(evaluation_id)
        evaluation.runs.extend(sorted(cells, key=lambda c: (c.seed, c.competition_id)))
        return evaluation

    def list(
        self, caller: Principal, request: gateway_pb2.ListEvaluationsRequest
    ) -> gateway_pb2.ListEvaluationsResponse:
        found, token = self.db.page(
            page_size=request.page_size, page_token=request.page_token, owner=None if caller.admin else caller.user
        )
        for evaluation in found:
            evaluation.ClearField("competitions")
        return gateway_pb2.ListEvaluationsResponse(evaluations=found, next_page_token=token)

    async def cancel(self, caller: Principal, evaluation_id: str) -> gateway_pb2.Evaluation:
        evaluation = self._owned(caller, evaluation_id)
        driver = self._drivers.get(evaluation_id)
        task = self._tasks.get(evaluation_id)
        if evaluation.state != EvaluationState.EVALUATION_STATE_RUNNING or driver is None:
            return self.get(caller, evaluation_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await driver.cancel()
        await self.orchestrator.writer.flush()  # read back below: its records must be committed
        return self.get(caller, evaluation_id)

    async def resume(self, caller: Principal, evaluation_id: str) -> gateway_pb2.Evaluation:
        """Runs again, in an ended evaluation, the cells that ended on a system failure or were
        cancelled; agent failures and successes stand. Each resumed cell gets max_attempts afresh."""
        evaluation = self._owned(caller, evaluation_id)
        if evaluation.state == EvaluationState.EVALUATION_STATE_RUNNING:
            raise EvaluationRunningError(f"evaluation {evaluation_id} is still running; resume it once it has ended")
        cells = self.db.cells(evaluation_id)
        again = [c for c in cells if c.done and _category(c) in ("system_failures", "cancelled")]
        if not again:
            raise EvaluationRunningError(
                f"evaluation {evaluation_id} has no system failures or cancelled runs to run again"
            )
        limit = self.limits.max_running_per_user
        if limit and sum(1 for d in self._drivers.values() if d.evaluation.owner == caller.user) >= limit:
            raise TooManyEvaluationsError(
                f"you have {limit} evaluations running, the most one user may have; wait for one or cancel one"
            )
        for cell in again:
            if cell.run_id:
                cell.retried_run_ids.append(cell.run_id)
            cell.run_id = ""
            cell.attempts = 0
            cell.done = False
            cell.system_failure = False
            cell.state = RunState.RUN_STATE_UNSPECIFIED
            cell.failure_reason = FailureReason.FAILURE_REASON_UNSPECIFIED
            cell.ClearField("report")
        evaluation.state = EvaluationState.EVALUATION_STATE_RUNNING
        evaluation.ClearField("end_time")
        evaluation.message = f"resumed: {len(again)} runs again"
        # Nothing awaited from the check above to the driver's start (a second resume finds it running);
        # the writer commits the cells before the driver's first record, and the answer waits for both.
        self.orchestrator.writer.enqueue(cells_write(evaluation_id, again))
        driver = self._start(evaluation, cells)
        driver.record(evaluation.message)
        await self.orchestrator.writer.flush()
        return self.get(caller, evaluation_id)

    def watch(
        self, caller: Principal, request: gateway_pb2.WatchEvaluationRequest
    ) -> AsyncIterator[gateway_pb2.EvaluationEvent]:
        """Checks the request now (so a bad one fails before the stream opens), then streams."""
        if request.from_seq < 0:
            raise InvalidArgumentError("from_seq must not be negative")
        evaluation_id = self._owned(caller, request.evaluation_id).evaluation_id
        return self._watch(evaluation_id, max(request.from_seq, 1), request.no_follow)

    async def _watch(
        self, evaluation_id: str, next_seq: int, no_follow: bool
    ) -> AsyncIterator[gateway_pb2.EvaluationEvent]:
        while True:
            if self.closing():
                raise GatewayClosingError(f"the gateway is shutting down; resume with from_seq={next_seq}")
            events = self.db.events_from(evaluation_id, next_seq)
            if events:
                for event in events:
                    yield event
                next_seq = events[-1].seq + 1
                continue
            # A driven evaluation is running whatever the database says yet: its records reach the
            # database through the writer thread, after they are made. A driver is dropped only once
            # its last records are committed, so the database is read after that.
            if no_follow:
                return
            if evaluation_id not in self._drivers:
                evaluation = self.db.get(evaluation_id)
                if evaluation.state != EvaluationState.EVALUATION_STATE_RUNNING and evaluation.last_seq < next_seq:
                    return
            await self.hub.wait(evaluation_id, POLL_SECONDS)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def recover(self) -> None:
        """At start-up (after the orchestrator's own recovery): running evaluations are driven again."""
        for evaluation in self.db.running():
            self._start(evaluation)

    async def shutdown(self) -> None:
        """Stops the drivers first, so the runs the orchestrator then stops are not taken for failures."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.db.close()
