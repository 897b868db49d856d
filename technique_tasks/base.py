"""What a technique task is: a derivation that plants known traps, a schema for the analysis, a grader.

A task subclasses `TechniqueTask`. `derive` writes the public files an agent sees (train/test CSVs,
`description.md`, the analysis schema and, when a submission is asked for, a sample submission) and
the private ground truth the grader scores against. `grade` scores an analysis item by item against
that ground truth and, when asked for, the submission on the derived test rows.
"""

from __future__ import annotations

import importlib
import json
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import numpy as np
import pandas as pd

from mleredux.errors import CompetitionNotSupportedError, InvalidAnalysisError, UnknownTechniqueTaskError
from technique_tasks.outcome import ID, METRIC_TEXT, TARGET, SubmissionOutcome, score_submission
from technique_tasks.scoring import Item, weighted_score
from technique_tasks.sources import SourceTable, TargetKind

#: The six tasks, in the order the docs list them.
TASK_NAMES: tuple[str, ...] = ("imbalance", "missing", "encoding", "cv", "scaling", "leakage")

GROUND_TRUTH = "ground_truth.json"
ANSWERS = "answers.csv"
PROVENANCE = "provenance.csv"
SAMPLE_SUBMISSION = "sample_submission.csv"
#: Where the agent writes its files inside the container (MLE-bench's submission dir).
CONTAINER_SUBMISSION_DIR = "/home/submission"


@dataclass
class Derived:
    """A planted dataset before it is written: what the agent sees, and what only the grader sees."""

    train: pd.DataFrame
    test: pd.DataFrame
    #: `id,target` of the test rows, when the task asks for a submission.
    answers: pd.DataFrame | None
    #: The task's planted facts (JSON-able); the grader scores against these.
    planted: dict[str, Any]
    #: The task's own part of description.md: what to analyse.
    instructions: str
    #: One line per column that needs explaining beyond `id`, `target` and the `f_` features.
    column_notes: dict[str, str] = field(default_factory=dict)
    #: `id,source_row`: which source row each derived row came from (private; lets tests check the plant).
    provenance: pd.DataFrame | None = None


@dataclass
class TechniqueGrade:
    """An analysis graded against the ground truth, plus the submission's outcome."""

    task: str
    #: Weighted mean of the items, in [0, 1].
    score: float
    items: list[Item]
    submission: SubmissionOutcome
    #: Task-specific outcome detail (e.g. how far a CV estimate was from the test score).
    outcome: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        body = {
            "task": self.task,
            "analysis_score": self.score,
            "items": [item.to_dict() for item in self.items],
            "submission": self.submission.to_dict(),
        }
        if self.outcome:
            body["outcome"] = self.outcome
        return body


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class TechniqueTask(ABC):
    """One technique task. Subclasses set the class attributes and implement `schema`, `plant`, `grade_analysis`."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: The source target kinds the task can derive from.
    source_kinds: ClassVar[frozenset[TargetKind]] = frozenset({"binary", "multiclass", "regression"})
    asks_submission: ClassVar[bool] = True
    #: One line each, for docs and listings.
    plants: ClassVar[str]
    asks: ClassVar[str]
    scoring: ClassVar[str]

    @property
    def analysis_file(self) -> str:
        return f"{self.name}_analysis.json"

    @property
    def schema_file(self) -> str:
        return f"{self.name}_analysis.schema.json"

    @abstractmethod
    def schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of `<task>_analysis.json`."""

    @abstractmethod
    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        """Build the derived dataset from the source, planting the task's traps."""

    @abstractmethod
    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        """Score a schema-valid analysis against the planted facts (`truth["planted"]`)."""

    def outcome_metric(self, kind: TargetKind) -> str:
        return {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[kind]

    def target_kind(self, source: SourceTable) -> TargetKind:
        """The kind of the derived target (a task may turn a multiclass source into a binary target)."""
        return source.kind

    # --- deriving -----------------------------------------------------------------------------------

    def check_source(self, source: SourceTable) -> None:
        if source.kind not in self.source_kinds:
            kinds = ", ".join(sorted(self.source_kinds))
            raise CompetitionNotSupportedError(
                f"the {self.name} task derives from competitions with a {kinds} target; "
                f"{source.competition_id} has a {source.kind} target"
            )

    def derive(self, source: SourceTable, public: Path, private: Path, seed: int) -> None:
        """Write the public files and the private ground truth for `source`, planted with `seed`."""
        self.check_source(source)
        # The competition joins the seed so that two sources planted with one seed get different traps.
        rng = np.random.default_rng([seed, TASK_NAMES.index(self.name), zlib.crc32(source.competition_id.encode())])
        derived = self.plant(source, rng, seed)
        kind = self.target_kind(source)
        metric = self.outcome_metric(kind)
        classes = sorted(int(v) for v in np.unique(derived.train[TARGET])) if kind != "regression" else []
        derived.train.to_csv(public / "train.csv", index=False)
        derived.test.to_csv(public / "test.csv", index=False)
        (public / self.schema_file).write_text(json.dumps(self.schema(), indent=2) + "\n")
        if self.asks_submission:
            if derived.answers is None:
                raise AssertionError(f"the {self.name} task asks for a submission but planted no answers")
            default = 0.5 if metric in ("roc_auc", "average_precision") else (classes[0] if classes else 0.0)
            pd.DataFrame({ID: derived.test[ID], TARGET: default}).to_csv(public / SAMPLE_SUBMISSION, index=False)
            derived.answers.to_csv(private / ANSWERS, index=False)
        if derived.provenance is not None:
            derived.provenance.to_csv(private / PROVENANCE, index=False)
        (public / "description.md").write_text(self.description(source, derived, kind, metric))
        truth = {
            "task": self.name,
            "competition_id": source.competition_id,
            "seed": seed,
            "target_kind": kind,
            "classes": classes,
            "outcome_metric": metric if self.asks_submission else None,
            "feature_origin": source.origin,
            "planted": derived.planted,
        }
        (private / GROUND_TRUTH).write_text(json.dumps(truth, indent=2) + "\n")

    def description(self, source: SourceTable, derived: Derived, kind: TargetKind, metric: str) -> str:
        features = [c for c in derived.train.columns if c.startswith("f_")]
        target_text = {
            "binary": "0 or 1",
            "multiclass": "an integer class code",
            "regression": "a number",
        }[kind]
        lines = [
            f"# Technique task: {self.title}\n",
            f"This dataset was derived from the labelled rows of the `{source.competition_id}` competition and then "
            "altered on purpose. It is a focused exercise in one piece of data-science craft: look at the data, "
            "find out what is unusual about it, and say what you would do about it.\n",
            "## Files\n",
            f"- `train.csv`: `id`, the columns below and `target` ({target_text}).",
            "- `test.csv`: `id` and the same columns, without `target`.",
            f"- `{self.schema_file}`: the JSON Schema your analysis must follow.",
        ]
        if self.asks_submission:
            lines.append(f"- `{SAMPLE_SUBMISSION}`: the submission format, one row per test id.")
        columns = [f"- `{features[0]}` … `{features[-1]}`: numeric features."] if features else []
        columns += [f"- `{column}`: {text}" for column, text in derived.column_notes.items()]
        others = [c for c in derived.test.columns if c != ID and c not in features and c not in derived.column_notes]
        if others:
            listed = ", ".join(f"`{c}`" for c in others)
            columns.append(f"- {'also ' if columns else ''}{listed}: what they hold is part of the exercise.")
        lines += [
            "",
            "## Columns\n",
            *columns,
            "",
            "## What to analyse\n",
            derived.instructions.strip() + "\n",
            "## What to hand in\n",
            f"- `{self.analysis_file}` in your submission directory ({CONTAINER_SUBMISSION_DIR}/, also "
            f"given as $SUBMISSION_DIR), valid against `{self.schema_file}`. Fields you leave out score nothing.",
        ]
        if self.asks_submission:
            lines.append(
                f"- `submission.csv` in the same directory: columns `id,target`, one row per test id, where "
                f"`target` is {self._prediction_text(metric)}. It is scored by {METRIC_TEXT[metric]}."
            )
        lines += [
            "",
            "## How it is scored\n",
            self.scoring.strip(),
            "",
            "The analysis score (0 to 1) is the weighted share of these points; "
            + (
                "the submission's score is reported beside it."
                if self.asks_submission
                else "this task asks for no submission."
            ),
            "",
        ]
        return "\n".join(lines)

    @staticmethod
    def _prediction_text(metric: str) -> str:
        if metric in ("roc_auc", "average_precision"):
            return "the predicted probability that `target` is 1"
        if metric == "accuracy":
            return "the predicted class code"
        return "the predicted value"

    # --- grading ------------------------------------------------------------------------------------

    def validate(self, analysis: Any, source: str = "the analysis") -> dict[str, Any]:
        """The analysis as a dict, or InvalidAnalysisError naming the first JSON path that breaks the schema."""
        validator = jsonschema.Draft202012Validator(self.schema())
        errors = sorted(validator.iter_errors(analysis), key=lambda e: (list(e.absolute_path), e.message))
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise InvalidAnalysisError(
                f"{source} does not follow {self.schema_file}: at {_json_path(first.absolute_path)}: "
                f"{first.message}{more}"
            )
        assert isinstance(analysis, dict)
        return analysis

    def load_analysis(self, path: Path) -> dict[str, Any]:
        """Read and validate `<task>_analysis.json`; InvalidAnalysisError says what is wrong."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidAnalysisError(f"{path.name} is not UTF-8 text: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InvalidAnalysisError(f"{path.name} is not valid JSON: {exc}") from None
        return self.validate(data, path.name)

    def read_truth(self, private: Path) -> dict[str, Any]:
        truth: dict[str, Any] = json.loads((private / GROUND_TRUTH).read_text())
        return truth

    def grade(self, analysis: Mapping[str, Any] | None, submission_path: Path | None, private: Path) -> TechniqueGrade:
        """Score a schema-valid analysis (None: absent, scored as empty) and the submission if asked for."""
        truth = self.read_truth(private)
        items = self.grade_analysis(analysis or {}, truth)
        if self.asks_submission:
            metric = truth["outcome_metric"]
            outcome = score_submission(submission_path, private / ANSWERS, metric, truth["classes"])
        else:
            outcome = SubmissionOutcome(asked=False)
        return TechniqueGrade(self.name, weighted_score(items), items, outcome)


_TASKS: dict[str, TechniqueTask] = {}


def get_task(name: str) -> TechniqueTask:
    """The task of that name, or UnknownTechniqueTaskError listing the six."""
    if name not in TASK_NAMES:
        raise UnknownTechniqueTaskError(f"unknown technique task {name!r}; the tasks are: {', '.join(TASK_NAMES)}")
    if name not in _TASKS:
        module = importlib.import_module(f"technique_tasks.{name}")
        task = module.TASK
        assert isinstance(task, TechniqueTask) and task.name == name
        _TASKS[name] = task
    return _TASKS[name]


def list_tasks() -> list[TechniqueTask]:
    return [get_task(name) for name in TASK_NAMES]
