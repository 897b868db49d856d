"""dogs-vs-cats-redux-kernels-edition: is the photo a dog (1) or a cat (0); binary log loss.

Split (MLE-bench's): the 25,000 labelled images of Kaggle's `train.zip` (`train/cat.<n>.jpg`,
`train/dog.<n>.jpg`), sorted by file name, are split with
`train_test_split(test_size=0.1, random_state=0)`. The file names give the label away, so the
public train images are renumbered per class (`cat.0.jpg`, `cat.1.jpg`, … in split order) and
the public test images become `1.jpg`, `2.jpg`, … in split order. The answers
(`private/answers.csv`) are `id, label` with label 1 for a dog; the sample submission says 0.5.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import media_files, place_all
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import log_loss

TARGET = "label"

DESCRIPTION = """\
# Dogs vs. Cats

Every photograph shows either a dog or a cat. For each test photograph, predict the probability
that it shows a dog.

## Files
- `train/`: the training photographs; the file name carries the label, `dog.<n>.jpg` or
  `cat.<n>.jpg`.
- `test/`: the photographs to classify, `<id>.jpg` with a numeric id.
- `sample_submission.csv`: `id,label`, one row per test photograph (every probability 0.5).

## Evaluation
Binary logarithmic loss between the predicted probability of "dog" (`label`, a number in
[0, 1]) and the truth (1 = dog, 0 = cat); predictions are clipped away from 0 and 1 before the
loss is taken. Lower is better.
"""


def _is_dog(name: str) -> bool:
    return "dog" in name


class DogsVsCatsReduxKernelsEdition(Competition):
    info = supported_entry("dogs-vs-cats-redux-kernels-edition")
    id_column = "id"
    target_columns = (TARGET,)
    answers_file = "answers.csv"

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        images = media_files(raw, "train", ".jpg")
        names = sorted(images)
        train, test = train_test_split(names, test_size=0.1, random_state=0)
        renamed: list[tuple[str, str]] = []
        counters = {"cat": 0, "dog": 0}
        for name in train:
            kind = "dog" if _is_dog(name) else "cat"
            renamed.append((name, f"{kind}.{counters[kind]}.jpg"))
            counters[kind] += 1
        place_all(images, renamed, public / "train")
        ids = list(range(1, len(test) + 1))
        place_all(images, ((name, f"{i}.jpg") for i, name in zip(ids, test, strict=True)), public / "test")
        answers = pd.DataFrame({"id": ids, TARGET: [int(_is_dog(name)) for name in test]})
        answers[["id"]].assign(**{TARGET: 0.5}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        answers.to_csv(private / "answers.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return log_loss(answers[TARGET].to_numpy(), submission[TARGET].to_numpy(), labels=[0, 1])


register(DogsVsCatsReduxKernelsEdition())
