"""What a competition is to the rest of the system: metadata, a prepare step and a metric.

A competition module subclasses `Competition` and registers an instance (see `registry.register`).
The preparer calls `prepare` to turn raw files into the MLE-bench layout; the grader reads
`answers_file` from the private dir and calls `score` on rows already matched by id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from mleredux.competitions.raw import RawData

if TYPE_CHECKING:  # only in annotations: the CLI and every service import this module, pandas ~0.3 s / 80 MB
    import pandas as pd

Complexity = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class CompetitionInfo:
    """Registry metadata, shown by `mleredux competitions` and `ListCompetitions`."""

    id: str
    name: str
    category: str
    metric: str
    is_lower_better: bool
    complexity: Complexity
    approx_size_bytes: int
    #: False for competitions that are listed but cannot be prepared or graded yet.
    supported: bool
    #: True when the competition prepares with no network and no raw files (built from bundled data).
    offline: bool
    summary: str
    #: False when the answers can be rebuilt from data an agent's image holds (demos built from datasets
    #: bundled with scikit-learn); such a competition measures nothing against a determined agent.
    sealed: bool = True


class Competition(ABC):
    """One competition: how its raw data becomes public/private, and how a submission is scored."""

    info: ClassVar[CompetitionInfo]
    #: The column that identifies a row in the submission and the answers.
    id_column: ClassVar[str]
    #: The columns a submission may predict; empty means "the sample submission's other columns". Of
    #: these, the prepared sample submission decides which are required and scored (see docs/grading.md).
    target_columns: ClassVar[tuple[str, ...]] = ()
    #: The target columns every layout's sample has (None: all of them). Fewer where MLE-bench's data
    #: scores a subset of Kaggle's columns; a sample lacking one of these is a broken data dir.
    required_columns: ClassVar[tuple[str, ...] | None] = None
    #: The answers file inside `prepared/private/`.
    answers_file: ClassVar[str] = "test.csv"
    #: The answers' columns the metric reads besides the id; None reads them all. Worth setting when
    #: the answers keep the whole test table (features included), as some MLE-bench splits do.
    answer_columns: ClassVar[tuple[str, ...] | None] = None
    #: The id column of the answers file when it differs from the submission's.
    answers_id_column: ClassVar[str | None] = None
    #: Extra `pandas.read_csv` options for submissions and answers alike (e.g. text where "NA" is a word).
    read_csv_options: ClassVar[dict[str, Any]] = {}
    #: The format reference inside `prepared/public/`.
    sample_submission_file: ClassVar[str] = "sample_submission.csv"

    @property
    def id(self) -> str:
        return self.info.id

    @abstractmethod
    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        """Write the public files (train, unlabeled test, sample_submission.csv, description.md) and the answers.

        `raw` gives the Kaggle download's files (extracting archives as needed), or is None for
        offline competitions built from bundled data.
        """

    @abstractmethod
    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        """The metric on a submission whose rows are already matched to `answers` by id, in the same order."""

    def check_values(self, submission: pd.DataFrame) -> None:
        """Competition-specific value rules (e.g. probabilities in [0, 1]); raise InvalidSubmissionError.

        Called after the generic checks (ids, columns, NaN, numeric dtypes) have passed.
        """
        return None

    def leaderboard(self) -> pd.DataFrame | None:
        """A leaderboard to write beside the data when none is downloaded (offline competitions), else None."""
        return None
