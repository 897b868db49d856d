"""The `mleredux eval ...` commands: each takes the parsed arguments and a gateway client.

`mleredux/cli/parser.py` wires them in (`add_parser` adds `eval` and its sub-commands, `run` runs
one). Starting an evaluation is a plain function of typed options, `start_evaluation(client,
EvaluationOptions(...))`: `eval create` builds the options from its arguments
(`EvaluationOptions.from_args`), and `mleredux demo`'s job, `demo(client)`, builds them itself.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from google.protobuf import json_format

from mleredux.client import GatewayClient
from mleredux.errors import InvalidArgumentError
from mleredux.evaluation.compare import DEFAULT_RESAMPLES, compare
from mleredux.evaluation.export import run_table_csv, run_table_json, write_mlebench
from mleredux.evaluation.messages import aggregate_from, directions, reports_from, run_rows
from mleredux.evaluation.splits import SPLIT_NAMES
from mleredux.evaluation.tables import (
    aggregate_table,
    comparison_table,
    competitions_table,
    progress_line,
    state_name,
    summary,
)
from mleredux.models.access import model_access
from mleredux.v1 import common_pb2, gateway_pb2

#: Exit code of `eval create`/`eval watch` when the evaluation was cancelled.
EXIT_CANCELLED = 3


def add_parser(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    add_common: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.ArgumentParser:
    """Adds `eval` and its sub-commands to the CLI's sub-parsers; returns the `eval` parser.
    `add_common` is applied to every sub-command (the CLI's `--gateway`/`--token` options)."""
    parser = subparsers.add_parser("eval", help="evaluations: an agent on a competition set with several seeds")
    commands = parser.add_subparsers(dest="eval_command", required=True)

    create = commands.add_parser("create", help="start an evaluation and follow it to its aggregate")
    create.add_argument("-a", "--agent", required=True, help="agent name (e.g. dummy, baseline) or image NAME:TAG")
    chosen = create.add_mutually_exclusive_group(required=True)
    chosen.add_argument("-c", "--competition", action="append", dest="competitions", metavar="ID", help="repeatable")
    chosen.add_argument("--split", choices=SPLIT_NAMES, help="a named competition set")
    chosen.add_argument("--list", type=Path, dest="list_file", metavar="FILE", help="a file of ids, one a line")
    create.add_argument("--seeds", type=int, required=True, help="runs per competition (env SEED=1..N)")
    create.add_argument("--concurrency", type=int, default=0, help="runs in flight at once (0: the gateway's default)")
    create.add_argument("--max-attempts", type=int, default=0, help="attempts per run on system failures")
    create.add_argument("--name", default="", help="a label")
    create.add_argument("--cpus", type=float, default=0.0)
    create.add_argument("--memory", type=int, default=0, help="MiB")
    create.add_argument("--gpus", type=int, default=0)
    create.add_argument("--time-limit", type=int, default=0, help="seconds per run")
    create.add_argument(
        "--task", default="", help="a technique task every run does (imbalance, missing, encoding, cv, ...)"
    )
    hints = create.add_mutually_exclusive_group()
    hints.add_argument(
        "--hints-from", action="append", dest="hint_runs", metavar="RUN_ID", help="a technique-task run (repeatable)"
    )
    hints.add_argument(
        "--hints-from-evaluation",
        dest="hint_evaluation",
        default="",
        metavar="EVALUATION_ID",
        help="an ended technique-task evaluation whose runs' analyses become the hints",
    )
    create.add_argument("--hint-rollouts", action="store_true", help="also give the hint runs' rollouts")
    create.add_argument(
        "--model-endpoint", action="append", default=[], metavar="NAME", help="grant every run a model endpoint"
    )
    create.add_argument("--max-model-requests", type=int, default=0, help="model calls per run (0: no cap)")
    create.add_argument("--max-model-tokens", type=int, default=0, help="model tokens per run (0: no cap)")
    create.add_argument("--max-model-cost", type=float, default=0.0, metavar="USD", help="model spend per run")
    create.add_argument("--detach", action="store_true", help="print the id and return")

    commands.add_parser("list", help="list evaluations").add_argument("--limit", type=int, default=50)
    get = commands.add_parser("get", help="an evaluation's figures")
    get.add_argument("evaluation_id")
    get.add_argument("--json", action="store_true", help="the whole Evaluation as JSON")
    watch = commands.add_parser("watch", help="follow an evaluation's progress")
    watch.add_argument("evaluation_id")
    watch.add_argument("--from-seq", type=int, default=1)
    commands.add_parser("cancel", help="cancel an evaluation").add_argument("evaluation_id")
    resume = commands.add_parser("resume", help="run again an ended evaluation's system failures and cancelled runs")
    resume.add_argument("evaluation_id")
    resume.add_argument("--detach", action="store_true", help="print the evaluation and return")
    export = commands.add_parser("export", help="write MLE-bench grading reports, or the per-run table")
    export.add_argument("evaluation_id")
    export.add_argument("--format", choices=("mlebench", "csv", "json"), default="mlebench")
    export.add_argument("-o", "--output", type=Path, required=True, help="a directory")
    comparison = commands.add_parser("compare", help="B minus A in each headline figure, with a bootstrap interval")
    comparison.add_argument("a")
    comparison.add_argument("b")
    comparison.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    comparison.add_argument("--rng-seed", type=int, default=0, help="0 for the fixed default")
    if add_common is not None:
        for leaf in commands.choices.values():
            add_common(leaf)
    return parser


class _Progress:
    """One progress line, redrawn in place on a terminal, printed when the counts change elsewhere."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last = ""

    def show(self, progress: gateway_pb2.EvaluationProgress) -> None:
        line = progress_line(progress)
        if line == self.last:
            return
        self.last = line
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.out.write("\r\x1b[2K" + line[:width])
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.out.write("\n")
            self.out.flush()


@dataclass(frozen=True)
class EvaluationOptions:
    """What `eval create` (and `mleredux demo`) asks the gateway for: one CreateEvaluationRequest."""

    #: The agent: a built-in or added agent's name, or an image NAME:TAG.
    agent: str
    #: The competition set: ids, or a named split (one of the two).
    competitions: tuple[str, ...] = ()
    split: str = ""
    #: Runs per competition (env SEED=1..N).
    seeds: int = 1
    #: Runs in flight at once; 0 for the gateway's default.
    concurrency: int = 0
    #: Attempts per run on system failures; 0 for the gateway's default.
    max_attempts: int = 0
    name: str = ""
    #: Compute per run; 0 for the runner's (or the agent manifest's) default.
    cpus: float = 0.0
    memory_mib: int = 0
    gpus: int = 0
    time_limit_seconds: int = 0
    #: A technique task every run does; empty for plain competition runs.
    task: str = ""
    #: Hints: technique-task runs, or an ended technique-task evaluation (one of the two).
    hint_runs: tuple[str, ...] = ()
    hint_evaluation: str = ""
    hint_rollouts: bool = False
    #: Model endpoints every run may call, and each run's budgets (0: no cap).
    model_endpoints: tuple[str, ...] = ()
    max_model_requests: int = 0
    max_model_tokens: int = 0
    max_model_cost_usd: float = 0.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EvaluationOptions:
        """The options of `eval create`'s parsed arguments (reading `--list FILE`)."""
        return cls(
            agent=args.agent,
            competitions=tuple(_competitions(args.list_file, args.competitions)),
            split=args.split or "",
            seeds=args.seeds,
            concurrency=args.concurrency,
            max_attempts=args.max_attempts,
            name=args.name,
            cpus=args.cpus,
            memory_mib=args.memory,
            gpus=args.gpus,
            time_limit_seconds=args.time_limit,
            task=args.task,
            hint_runs=tuple(args.hint_runs or ()),
            hint_evaluation=args.hint_evaluation,
            hint_rollouts=args.hint_rollouts,
            model_endpoints=tuple(args.model_endpoint or ()),
            max_model_requests=args.max_model_requests,
            max_model_tokens=args.max_model_tokens,
            max_model_cost_usd=args.max_model_cost,
        )


def _competitions(list_file: Path | None, competitions: list[str] | None) -> list[str]:
    if list_file is not None:
        try:
            text = list_file.read_text()
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read {list_file}: {exc.strerror}") from None
        return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(competitions or [])


async def _follow(client: GatewayClient, evaluation_id: str, out: TextIO, from_seq: int = 1) -> int:
    bar = _Progress(out)
    try:
        async for event in client.watch_evaluation(evaluation_id, from_seq=from_seq):
            bar.show(event.progress)
    finally:
        bar.close()
    evaluation = await client.get_evaluation(evaluation_id)
    _print_figures(evaluation, out)
    return EXIT_CANCELLED if evaluation.state == gateway_pb2.EvaluationState.EVALUATION_STATE_CANCELLED else 0


def _print_figures(evaluation: gateway_pb2.Evaluation, out: TextIO) -> None:
    print(summary(evaluation), file=out)
    print(aggregate_table(evaluation), file=out)
    if evaluation.competitions:
        print(competitions_table(evaluation), file=out)
    out.flush()


async def start_evaluation(
    client: GatewayClient, options: EvaluationOptions, out: TextIO = sys.stdout, *, detach: bool = False
) -> int:
    """Creates the evaluation and, unless `detach`, follows it with a live progress line to its
    aggregate table; returns the exit code (EXIT_CANCELLED if it was cancelled)."""
    compute = common_pb2.ComputeProfile(
        cpus=options.cpus,
        memory_bytes=options.memory_mib * (1 << 20),
        gpus=options.gpus,
        time_limit_seconds=options.time_limit_seconds,
    )
    access = model_access(
        list(options.model_endpoints),
        max_requests=options.max_model_requests,
        max_tokens=options.max_model_tokens,
        max_cost_usd=options.max_model_cost_usd,
    )
    evaluation = await client.create_evaluation(
        options.agent,
        model_access=access,
        competition_ids=list(options.competitions),
        split=options.split,
        seeds=options.seeds,
        concurrency=options.concurrency,
        compute=compute,
        name=options.name,
        max_attempts=options.max_attempts,
        task=options.task,
        hint_run_ids=list(options.hint_runs),
        hint_evaluation_id=options.hint_evaluation,
        hint_rollouts=options.hint_rollouts,
    )
    print(summary(evaluation), file=out, flush=True)
    if detach:
        return 0
    return await _follow(client, evaluation.evaluation_id, out)


async def create(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    return await start_evaluation(client, EvaluationOptions.from_args(args), out, detach=args.detach)


async def list_evaluations(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    for e in (await client.list_evaluations(page_size=args.limit)).evaluations:
        overall = next((f for f in e.figures if f.group == "all"), None)
        medal = f"{overall.any_medal.mean:5.1f} ± {overall.any_medal.standard_error:4.1f}" if overall else "-"
        created = e.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{e.evaluation_id}  {created}  {state_name(e.state):<9}  {e.progress.done:>4}/{e.progress.total:<4}  "
            f"any medal {medal}  {e.agent}  {e.name}".rstrip(),
            file=out,
        )
    return 0


async def get(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    evaluation = await client.get_evaluation(args.evaluation_id)
    if args.json:
        print(json_format.MessageToJson(evaluation, preserving_proto_field_name=True), file=out)
    else:
        print(progress_line(evaluation.progress), file=out)
        _print_figures(evaluation, out)
    return 0


async def watch(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    return await _follow(client, args.evaluation_id, out, args.from_seq)


async def cancel(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    evaluation = await client.cancel_evaluation(args.evaluation_id)
    print(summary(evaluation), file=out)
    return 0


async def resume(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    evaluation = await client.resume_evaluation(args.evaluation_id)
    print(summary(evaluation), file=out, flush=True)
    if args.detach:
        return 0
    return await _follow(client, evaluation.evaluation_id, out, evaluation.last_seq)


async def export(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    evaluation = await client.get_evaluation(args.evaluation_id)
    write_export(evaluation, args.format, args.output, out)
    return 0


def write_export(evaluation: gateway_pb2.Evaluation, form: str, directory: Path, out: TextIO) -> None:
    """Writes the evaluation as MLE-bench grading reports ("mlebench") or its run table ("csv", "json")."""
    directory.mkdir(parents=True, exist_ok=True)
    if form == "mlebench":
        paths = write_mlebench(directory, aggregate_from(evaluation), reports_from(evaluation), directions(evaluation))
        print(f"wrote {len(paths)} grading reports (one per seed) and split files to {directory}", file=out)
        print(
            "check with MLE-bench: python experiments/aggregate_grading_reports.py --grading-reports "
            f"{directory}/seed_*_grading_report.json --split {directory}/split.txt",
            file=out,
        )
    elif form == "csv":
        path = directory / f"{evaluation.evaluation_id}_runs.csv"
        path.write_text(run_table_csv(run_rows(evaluation)))
        print(f"wrote {path}", file=out)
    else:
        path = directory / f"{evaluation.evaluation_id}_runs.json"
        path.write_text(run_table_json(run_rows(evaluation)))
        print(f"wrote {path}", file=out)


async def compare_evaluations(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    a = await client.get_evaluation(args.a)
    b = await client.get_evaluation(args.b)
    for e in (a, b):
        if e.state == gateway_pb2.EvaluationState.EVALUATION_STATE_RUNNING:
            print(f"note: {e.evaluation_id} is still running; its unfinished runs count as zero reports", file=out)
    kwargs = {"rng_seed": args.rng_seed} if args.rng_seed else {}
    result = compare(aggregate_from(a), aggregate_from(b), resamples=args.resamples, **kwargs)
    print(f"A = {a.evaluation_id} ({a.name or a.agent}), B = {b.evaluation_id} ({b.name or b.agent})", file=out)
    print(comparison_table(result, "A", "B"), file=out)
    return 0


async def demo(client: GatewayClient, out: TextIO = sys.stdout, *, agent: str = "baseline", seeds: int = 2) -> int:
    """`mleredux demo`'s job: a small evaluation (the agent on the offline demos, `seeds` seeds), live,
    ending with the aggregate table."""
    options = EvaluationOptions(agent=agent, split="demo", seeds=seeds, name=f"demo: {agent} on the offline demos")
    return await start_evaluation(client, options, out)


COMMANDS = {
    "create": create,
    "list": list_evaluations,
    "get": get,
    "watch": watch,
    "cancel": cancel,
    "resume": resume,
    "export": export,
    "compare": compare_evaluations,
}


async def run(args: argparse.Namespace, client: GatewayClient, out: TextIO = sys.stdout) -> int:
    """Runs the `eval` sub-command named by `args.eval_command`."""
    return await COMMANDS[args.eval_command](args, client, out)
