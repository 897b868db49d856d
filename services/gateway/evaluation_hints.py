"""Technique hints for an evaluation's runs: earlier technique-task analyses, read-only at /home/hints/.

At create time the hints of each competition are assembled once under
`evaluations/<evaluation_id>/hints/<competition_id>/` in the store: each hint run's analysis (the
JSON the agent wrote, `submission/<task>_analysis.json`), optionally its rollout
(`rollout.jsonl`), and a README.md saying what they are. Only what an agent wrote is copied —
never the run's report, score, grader output or anything else derived from private answers. Before
each run of the evaluation is created, its competition's hints are copied to `runs/<run_id>/hints/`,
which the runner mounts read-only at /home/hints (and are then part of the run's artifacts).
"""

from __future__ import annotations

from collections import defaultdict

from mleredux.store import ArtifactStore
from mleredux.v1 import gateway_pb2

README = """\
# Hints for {competition_id}

These files come from earlier runs on this competition that did technique tasks (analyses of a
dataset derived from this competition's public data, each about one technique: class imbalance,
missing values, encoding, cross-validation, scaling, leakage). They are what those agents wrote; they
contain no scores and nothing derived from the competition's answers. Use them or not.

{listing}
"""


def _analysis_key(run: gateway_pb2.Run) -> str:
    return f"runs/{run.run_id}/submission/{run.task}_analysis.json"


class Hints:
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def has_analysis(self, run: gateway_pb2.Run) -> bool:
        return self.store.exists(_analysis_key(run))

    def assemble(self, evaluation_id: str, runs: list[gateway_pb2.Run], *, rollouts: bool) -> None:
        by_competition: dict[str, list[gateway_pb2.Run]] = defaultdict(list)
        for run in runs:
            by_competition[run.competition_id].append(run)
        for competition_id, group in by_competition.items():
            prefix = f"evaluations/{evaluation_id}/hints/{competition_id}/"
            lines = []
            for run in group:
                name = f"{run.task}-{run.run_id}-analysis.json"
                self.store.put_bytes(prefix + name, self.store.get_bytes(_analysis_key(run)))
                lines.append(f"- `{name}`: the `{run.task}` analysis of run {run.run_id} (agent {run.agent})")
                rollout = f"runs/{run.run_id}/rollout.jsonl"
                if rollouts and self.store.exists(rollout):
                    name = f"{run.task}-{run.run_id}-rollout.jsonl"
                    self.store.put_bytes(prefix + name, self.store.get_bytes(rollout))
                    lines.append(f"- `{name}`: that run's rollout (its recorded steps)")
            text = README.format(competition_id=competition_id, listing="\n".join(lines))
            self.store.put_bytes(prefix + "README.md", text.encode())

    def give(self, evaluation_id: str, competition_id: str, run_id: str) -> None:
        """Copies the competition's hints to the run's store prefix, where the runner looks for them."""
        prefix = f"evaluations/{evaluation_id}/hints/{competition_id}/"
        for item in self.store.list(prefix):
            self.store.put_bytes(f"runs/{run_id}/hints/{item.key[len(prefix) :]}", self.store.get_bytes(item.key))
