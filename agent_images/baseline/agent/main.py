"""The baseline agent: read the competition, recognise the task, train scikit-learn models, submit.

It records what it does as rollout events (plan, code, result, validation), keeps its code in the
code dir, and checks its submission with the grader's validation socket. When it does not understand
the data it submits the sample submission and says so (exit 0); it exits non-zero only when it
fails for real. With MLEREDUX_TASK set it hands the run to `techniques.run`.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from rollout import Rollout
from settings import Settings, cpu_quota, from_env, memory_limit

AGENT_DIR = Path(__file__).resolve().parent


def _limit_threads() -> int:
    """BLAS and OpenMP pools sized to the container's CPU quota, set before numpy is imported:
    a pool per host core under a one-CPU quota only thrashes."""
    threads = cpu_quota()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    # Idle OpenMP threads sleep instead of spinning: spinning threads steal the CPU the work needs
    # whenever the machine is shared.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return threads


def _copy_code(settings: Settings, rollout: Rollout) -> None:
    files = sorted(p for p in AGENT_DIR.glob("*.py") if p.is_file())
    try:
        settings.code_dir.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copyfile(path, settings.code_dir / path.name)
    except OSError as exc:
        rollout.event("error", {"message": f"cannot copy the code to {settings.code_dir}: {exc}"})
        return
    rollout.event(
        "code",
        {
            "text": f"{len(files)} Python files copied to {settings.code_dir} (entry point main.py)",
            "language": "python",
            "entrypoint": "main.py",
            "files": [p.name for p in files],
            "bytes": sum(p.stat().st_size for p in files),
        },
    )


def _validate(settings: Settings, rollout: Rollout) -> dict[str, Any]:
    from submission import validate

    answer = validate(settings.validate_script, settings.submission_path)
    rollout.event("validation", {"file": str(settings.submission_path), **answer})
    return answer


def _fallback(settings: Settings, rollout: Rollout, sample: Path, reason: str) -> None:
    from submission import copy_sample

    copy_sample(sample, settings.submission_path)
    rollout.event(
        "result",
        {
            "text": f"submitted the sample submission unchanged: {reason}",
            "fallback": True,
            "reason": reason,
            "submission": str(settings.submission_path),
        },
    )


def run_technique(settings: Settings, rollout: Rollout) -> int:
    rollout.event(
        "plan", {"text": f"technique task {settings.task!r}: handing over to techniques.run", "task": settings.task}
    )
    _copy_code(settings, rollout)
    try:
        # Imported only for technique tasks, and by name: another part of the project provides it.
        techniques = importlib.import_module("techniques")
    except ModuleNotFoundError as exc:
        if exc.name != "techniques":
            raise
        rollout.event(
            "error",
            {"message": f"technique task {settings.task!r} asked for, but this agent has no techniques module"},
        )
        return 2
    try:
        techniques.run(settings.task, settings.data_dir, settings.submission_dir, settings.logs_dir)
    except Exception as exc:
        rollout.event("error", {"message": f"technique task failed: {exc!r}", "traceback": traceback.format_exc()})
        return 1
    from submission import validate

    # The grader socket checks an analysis against the task's schema and a CSV against its sample.
    for name in (f"{settings.task}_analysis.json", "submission.csv"):
        path = settings.submission_dir / name
        if path.is_file():
            rollout.event("validation", {"file": path.name, **validate(settings.validate_script, path)})
    return 0


def run_competition(settings: Settings, rollout: Rollout, threads: int) -> int:
    import loading
    import solve
    import task
    from models import Outcome
    from submission import write

    rollout.event(
        "plan",
        {
            "text": "read description.md and the sample submission, recognise the task from the sample's "
            "columns and the training table, build numeric and TF-IDF features, choose a scikit-learn "
            "model by cross-validation, predict the test rows, write and validate the submission",
            "competition_id": settings.competition_id,
            "time_limit_secs": settings.time_limit_secs,
            "threads": threads,
            "memory_bytes": memory_limit(),
        },
    )
    _copy_code(settings, rollout)
    try:
        sample = loading.find_sample(settings.data_dir)
    except (FileNotFoundError, NotADirectoryError) as exc:
        rollout.event("error", {"message": f"cannot start: {exc}"})
        return 1

    status = 0
    modelled = False
    try:
        data = loading.load(settings.data_dir, memory_limit())
        heads = task.recognise(data)
        rollout.event(
            "plan",
            {
                "text": "; ".join(h.describe() for h in heads),
                "id_column": data.id_column,
                "targets": data.targets,
                "copied_columns": data.passthrough,
                "train": f"{data.train_file.name} ({len(data.train)} of {data.train_rows_in_file} rows read)",
                "test": f"{data.test_file.name} ({len(data.test)} rows)",
                "heads": [
                    {"kind": h.kind, "column": h.label_column, "outputs": list(h.outputs), "metric": h.metric}
                    for h in heads
                ],
            },
        )

        def on_head(head: task.Head, outcome: Outcome) -> None:
            rollout.event(
                "result",
                {
                    "text": f"{', '.join(head.outputs)}: chose {'+'.join(outcome.chosen)} "
                    f"({outcome.metric} {outcome.best_score:.5g} by {outcome.validation})",
                    "head": list(head.outputs),
                    "metric": outcome.metric,
                    "validation": outcome.validation,
                    "scores": {k: round(v, 6) for k, v in outcome.scores.items()},
                    "seconds": outcome.seconds,
                    "skipped": outcome.skipped,
                    "chosen": outcome.chosen,
                    "fit_rows": outcome.fit_rows,
                },
            )

        solution = solve.solve(data, heads, threads=threads, seconds_left=settings.seconds_left, on_head=on_head)
        written = write(data, solution.predictions, settings.submission_path)
        modelled = True
        rollout.event(
            "result",
            {
                "text": f"wrote {written['rows']} rows to {written['path']}",
                "features": solution.features,
                "seconds": round(time.monotonic() - settings.started, 2),
                **written,
            },
        )
    except loading.NotUnderstood as exc:
        _fallback(settings, rollout, sample, str(exc))
    except Exception as exc:
        rollout.event("error", {"message": f"modelling failed: {exc!r}", "traceback": traceback.format_exc()})
        status = 1
        try:
            _fallback(settings, rollout, sample, f"modelling failed: {exc!r}")
        except OSError as write_error:
            rollout.event("error", {"message": f"cannot write the sample submission: {write_error}"})
            return 1

    answer = _validate(settings, rollout)
    if answer.get("valid") is False and modelled:
        # The grader knows the format better than this agent: submit the sample rather than nothing.
        _fallback(settings, rollout, sample, f"the grader rejected the model's submission: {answer.get('message')}")
        _validate(settings, rollout)
    return status


def main() -> int:
    threads = _limit_threads()
    settings = from_env()
    try:
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"baseline: cannot create {settings.logs_dir}: {exc}", file=sys.stderr)
    rollout = Rollout(settings.logs_dir)
    print(
        f"baseline: competition {settings.competition_id or '?'}, data {settings.data_dir}, {threads} threads",
        flush=True,
    )
    if settings.task:
        return run_technique(settings, rollout)
    return run_competition(settings, rollout, threads)


if __name__ == "__main__":
    sys.exit(main())
