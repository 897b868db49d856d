"""random-acts-of-pizza: will a Reddit request for a free pizza be granted? ROC AUC.

Split (as MLE-bench documents it): Kaggle's labelled `train.json` (4,040 requests) is split with
`train_test_split(test_size=len(test) / (len(train) + len(test)), random_state=0)`, where the
sizes are those of Kaggle's `train.json` and `test.json` (1,631 requests), so the new test set keeps
Kaggle's test proportion. The split is done on the list of JSON records in file order. The public
`train.json` keeps every field; the public `test.json` keeps only the fields of Kaggle's own
`test.json` (the "at request" fields, no outcome and nothing known only at retrieval time), in
that order. Both are written with a four-space indent and also zipped (`train.zip`, `test.zip`),
as MLE-bench does. The answers are `request_id,requester_received_pizza` (0 or 1); the sample
submission `sampleSubmission.csv` predicts 0 everywhere.

Metric: area under the ROC curve of the predicted probabilities (higher is better).

No deliberate difference from MLE-bench beyond our generic rules (rows matched by id, extra columns
rejected).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import roc_auc

TARGET = "requester_received_pizza"

DESCRIPTION = """\
# Random acts of pizza

The Reddit community Random Acts of Pizza is a place where people ask strangers for a free pizza,
and some get one. Each record is one request (the first and only one of its author there), with
its title and text, information about the requester's Reddit activity, and whether the requester
received a pizza. Predict, for each test request, the probability that it was granted.

## Files
- `train.json` (also `train.zip`): a list of requests with every field, among them
  `request_id`, `request_title`, `request_text`, `request_text_edit_aware`,
  `unix_timestamp_of_request`, requester activity counts measured at the time of the request
  (`..._at_request`) and at the time the data were collected (`..._at_retrieval`),
  `requester_user_flair`, `giver_username_if_known` and the outcome `requester_received_pizza`.
- `test.json` (also `test.zip`): the test requests, with only the fields that are known when a
  request is posted.
- `sampleSubmission.csv`: `request_id,requester_received_pizza`, one row per test request.

## Evaluation
Area under the ROC curve between the predicted probabilities (in [0, 1]) and the outcomes
(higher is better).
"""


def _load(raw: RawData, name: str) -> list[dict[str, Any]]:
    records = json.loads(raw_file(raw, name).read_text(encoding="utf-8"))
    if not isinstance(records, list) or not records:
        raise RawFileMissingError(f"the raw {name} is not a non-empty list of requests")
    return records


def _write_json(records: list[dict[str, Any]], public: Path, name: str) -> None:
    with open(public / f"{name}.json", "w") as out:
        json.dump(records, out, indent=4)
    with zipfile.ZipFile(public / f"{name}.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(public / f"{name}.json", arcname=f"{name}.json")


class RandomActsOfPizza(Competition):
    info = supported_entry("random-acts-of-pizza")
    id_column = "request_id"
    target_columns = (TARGET,)
    sample_submission_file = "sampleSubmission.csv"

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        old_train = _load(raw, "train.json")
        old_test = _load(raw, "test.json")
        test_ratio = len(old_test) / (len(old_train) + len(old_test))
        test_fields = list(old_test[0].keys())
        new_train, new_test = train_test_split(old_train, test_size=test_ratio, random_state=0)

        _write_json(new_train, public, "train")
        _write_json([{key: record[key] for key in test_fields} for record in new_test], public, "test")

        answers = pd.DataFrame(
            {
                "request_id": [record["request_id"] for record in new_test],
                TARGET: [int(record[TARGET]) for record in new_test],
            }
        )
        answers.to_csv(private / "test.csv", index=False)
        answers.assign(**{TARGET: 0}).to_csv(public / "sampleSubmission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, (TARGET,))

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(RandomActsOfPizza())
