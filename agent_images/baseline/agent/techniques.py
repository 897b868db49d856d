"""The baseline agent's technique-task analyses: what a careful data scientist checks, done in code.

`run(task, data_dir, submission_dir, logs_dir)` reads the task's public files, analyses them for the
task's concern, writes `<task>_analysis.json` (and `submission.csv` when the task gives a sample
submission) into the submission dir, and appends rollout events to `<logs_dir>/rollout.jsonl`.

Every finding comes from the data alone — counts, missingness tests, cardinalities, train/test
comparisons, single-feature predictors, duplicate matching — never from how the task was built.
It runs inside the agent container: the analyses live in `column_analyses` and `validation_analyses`,
reading and modelling in `technique_data` and `technique_models`, on top of the agent's own modules;
nothing of the project's code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from column_analyses import analyse_encoding, analyse_missing, analyse_scaling
from rollout import Rollout, jsonable
from technique_data import Data, Log, load, write_submission
from validation_analyses import analyse_cv, analyse_imbalance, analyse_leakage

TASKS = ("imbalance", "missing", "encoding", "cv", "scaling", "leakage")

ANALYSES: dict[str, Callable[[Data, Log], tuple[dict[str, Any], np.ndarray | None]]] = {
    "imbalance": analyse_imbalance,
    "missing": analyse_missing,
    "encoding": analyse_encoding,
    "cv": analyse_cv,
    "scaling": analyse_scaling,
    "leakage": analyse_leakage,
}


def run(task: str, data_dir: Path, submission_dir: Path, logs_dir: Path) -> None:
    """Analyse the data for `task`, write `<task>_analysis.json` (and `submission.csv` when asked for)."""
    log = Rollout(Path(logs_dir)).event
    if task not in ANALYSES:
        log("error", {"message": f"unknown technique task {task!r}; known: {', '.join(TASKS)}"})
        raise ValueError(f"unknown technique task {task!r}; known: {', '.join(TASKS)}")
    started = time.monotonic()
    data = load(Path(data_dir))
    log(
        "plan",
        {
            "text": f"technique task {task}: analyse train.csv/test.csv for it, write {task}_analysis.json"
            + (" and submission.csv" if data.sample is not None else ""),
            "rows": {"train": len(data.train), "test": len(data.test)},
            "target": data.target,
            "target_kind": data.kind,
            "metric": data.metric,
        },
    )
    analysis, predictions = ANALYSES[task](data, log)
    submission_dir = Path(submission_dir)
    submission_dir.mkdir(parents=True, exist_ok=True)
    path = submission_dir / f"{task}_analysis.json"
    path.write_text(json.dumps(analysis, indent=2, default=jsonable) + "\n")
    log("analysis", {"file": path.name, "analysis": analysis})
    if predictions is not None:
        write_submission(data, predictions, submission_dir, log)
    log("result", {"text": f"{task} analysis done", "seconds": round(time.monotonic() - started, 2)})
