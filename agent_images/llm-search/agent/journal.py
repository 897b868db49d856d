"""The search's journal: one node per solution tried, each also written as rollout events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Node:
    id: int
    stage: str  # draft, improve or debug
    parent: int | None
    plan: str = ""
    code: str = ""
    output: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    metric: float | None = None
    lower_is_better: bool = False
    submission: Path | None = None
    error: str = ""
    children: list[int] = field(default_factory=list)

    @property
    def buggy(self) -> bool:
        return self.metric is None or self.submission is None or self.exit_code != 0


class Rollout:
    """Appends one JSON object per line to the run's rollout file (the runner turns them into events)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def event(self, step: int, kind: str, payload: dict[str, Any]) -> None:
        line = json.dumps({"step": step, "kind": kind, "payload": payload, "time": time.time()})
        with self.path.open("a") as out:
            out.write(line + "\n")


class Journal:
    def __init__(self, rollout: Rollout) -> None:
        self.nodes: list[Node] = []
        self.rollout = rollout

    def add(self, stage: str, parent: int | None) -> Node:
        node = Node(id=len(self.nodes), stage=stage, parent=parent)
        self.nodes.append(node)
        if parent is not None:
            self.nodes[parent].children.append(node.id)
        return node

    def good(self) -> list[Node]:
        return [n for n in self.nodes if not n.buggy]

    def best(self) -> Node | None:
        good = self.good()
        if not good:
            return None
        lower = good[0].lower_is_better
        return (min if lower else max)(good, key=lambda n: n.metric if n.metric is not None else 0.0)

    def buggy_leaves(self, max_debug_depth: int) -> list[Node]:
        leaves = []
        for node in self.nodes:
            if node.buggy and not node.children and self.debug_depth(node) < max_debug_depth:
                leaves.append(node)
        return leaves

    def debug_depth(self, node: Node) -> int:
        depth = 0
        while node.stage == "debug" and node.parent is not None:
            depth += 1
            node = self.nodes[node.parent]
        return depth

    def summary(self, limit: int = 6) -> str:
        """What the good nodes so far did, for the next prompt."""
        lines = []
        for node in self.good()[-limit:]:
            lines.append(f"- node {node.id} ({node.stage}): metric {node.metric:.5g}. Plan: {node.plan[:400]}")
        return "\n".join(lines) or "(no working solution yet)"
