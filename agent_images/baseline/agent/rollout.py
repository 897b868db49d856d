"""The agent's typed record: one JSON object per line in `<logs>/rollout.jsonl`, which the runner tails live.

Each line is `{"step": n, "kind": ..., "payload": {...}}`; kinds used here are plan, code, result,
validation and error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


class Rollout:
    def __init__(self, logs_dir: Path) -> None:
        self.path = logs_dir / "rollout.jsonl"
        self.step = 0

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        """Appends one complete line at once, so the runner never reads half an event."""
        # Steps continue what is already recorded (a restarted agent, or a module writing its own events).
        self.step = max(self.step, self._recorded()) + 1
        line = json.dumps({"step": self.step, "kind": kind, "payload": payload}, default=jsonable) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            # The record is worth having but never worth failing the run for.
            print(f"baseline: cannot append to {self.path}: {exc}", flush=True)
        print(f"baseline: [{kind}] {_short(payload)}", flush=True)

    def _recorded(self) -> int:
        try:
            with open(self.path, "rb") as handle:
                return sum(1 for line in handle if line.strip())
        except OSError:
            return 0


def jsonable(value: Any) -> Any:
    """JSON for what `json` cannot write itself: numpy numbers as numbers, arrays as lists, else text."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _short(payload: dict[str, Any]) -> str:
    text = payload.get("text") or payload.get("message") or json.dumps(payload, default=jsonable)
    text = str(text)
    return text if len(text) <= 300 else text[:297] + "..."
