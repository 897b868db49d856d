"""Writing the submission in exactly the sample's format, and asking the grader whether it is valid."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from loading import CompetitionData

VALIDATION_TIMEOUT = 180.0


def _render(values: np.ndarray, sample_values: pd.Series) -> list[str]:
    """Values as CSV text: floats with 12 significant digits, whole numbers without a decimal point
    when the sample writes them so, anything else as its string."""
    integral_sample = not sample_values.astype(str).str.contains(r"[.eE]", regex=True).any()
    out = []
    for value in values:
        if isinstance(value, bool | np.bool_):
            out.append(str(bool(value)))
        elif isinstance(value, int | np.integer):
            out.append(str(int(value)))
        elif isinstance(value, float | np.floating):
            number = float(value)
            if integral_sample and number.is_integer():
                out.append(str(int(number)))
            else:
                out.append(format(number, ".12g"))
        else:
            out.append(str(value))
    return out


def write(data: CompetitionData, predictions: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    """The sample with its predicted columns replaced; ids, row order and other columns unchanged.
    A sample id the test table lacks keeps the sample's value (counted in the answer)."""
    test_ids = None if data.test_id_column is None else data.test_ids
    return write_like_sample(data.sample, data.id_column, test_ids, predictions, path)


def write_like_sample(
    sample: pd.DataFrame, id_column: str, test_ids: pd.Series | None, predictions: dict[str, np.ndarray], path: Path
) -> dict[str, Any]:
    """`sample` (read as text) with its `predictions` columns replaced. `predictions` follow the test
    rows, whose ids are `test_ids` (None: the sample lists the test rows in their order)."""
    frame = sample.copy()
    if test_ids is None:
        rows = np.arange(len(frame))
    else:
        first = pd.Series(np.arange(len(test_ids)), index=test_ids)
        first = first[~first.index.duplicated()]
        rows = frame[id_column].map(first).to_numpy()
    known = ~pd.isna(rows)
    positions = np.where(known, rows, 0).astype(np.int64)
    for column, values in predictions.items():
        taken = np.asarray(values, dtype=object)[positions]
        rendered = _render(taken, sample[column])
        frame[column] = np.where(known, rendered, sample[column].to_numpy())
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    frame.to_csv(temporary, index=False)
    temporary.replace(path)
    return {
        "path": str(path),
        "rows": len(frame),
        "columns": list(frame.columns),
        "ids_not_in_test": int((~known).sum()),
    }


def copy_sample(sample_path: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_path, path)


def validate(script: Path, submission: Path) -> dict[str, Any]:
    """The grader's verdict through `sh validate_submission.sh FILE` (format only, never a score)."""
    if not script.is_file():
        return {"valid": None, "message": f"no validation script at {script}", "exit_code": None}
    answer: dict[str, Any] = {}
    for attempt in range(3):
        try:
            done = subprocess.run(
                ["sh", str(script), str(submission)], capture_output=True, text=True, timeout=VALIDATION_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            return {"valid": None, "message": f"validation did not answer within {VALIDATION_TIMEOUT:.0f} s"}
        answer = {"exit_code": done.returncode}
        try:
            parsed = json.loads(done.stdout.strip().splitlines()[-1])
            answer.update(valid=parsed.get("valid"), message=parsed.get("message", ""))
        except (IndexError, ValueError, AttributeError):
            answer.update(valid=None, message=(done.stderr or done.stdout).strip()[-500:])
        if done.returncode in (0, 1):
            answer["valid"] = done.returncode == 0
            return answer
        if "rate limited" not in str(answer.get("message", "")):
            answer["valid"] = None
            return answer
        time.sleep(1.5 * (attempt + 1))
    answer["valid"] = None
    return answer
