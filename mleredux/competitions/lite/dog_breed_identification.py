"""dog-breed-identification: which of 120 breeds a dog photo shows; multi-class log loss.

Split (MLE-bench's): Kaggle's `labels.csv` (10,222 rows, `id, breed`) is split with
`train_test_split(test_size=0.1, random_state=0)` in file order; the test images move from
`train/` to the public `test/` under their own (hash) names. The answers are one-hot over the
120 breeds in alphabetical order (Kaggle's sample-submission order); the sample submission gives
every breed 1/120.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import media_files, place_all, raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import log_loss

#: Kaggle's 120 breeds, in the order of its sample submission (alphabetical).
BREEDS: tuple[str, ...] = tuple(
    """
    affenpinscher afghan_hound african_hunting_dog airedale american_staffordshire_terrier appenzeller
    australian_terrier basenji basset beagle bedlington_terrier bernese_mountain_dog black-and-tan_coonhound
    blenheim_spaniel bloodhound bluetick border_collie border_terrier borzoi boston_bull bouvier_des_flandres
    boxer brabancon_griffon briard brittany_spaniel bull_mastiff cairn cardigan chesapeake_bay_retriever
    chihuahua chow clumber cocker_spaniel collie curly-coated_retriever dandie_dinmont dhole dingo doberman
    english_foxhound english_setter english_springer entlebucher eskimo_dog flat-coated_retriever
    french_bulldog german_shepherd german_short-haired_pointer giant_schnauzer golden_retriever gordon_setter
    great_dane great_pyrenees greater_swiss_mountain_dog groenendael ibizan_hound irish_setter irish_terrier
    irish_water_spaniel irish_wolfhound italian_greyhound japanese_spaniel keeshond kelpie kerry_blue_terrier
    komondor kuvasz labrador_retriever lakeland_terrier leonberg lhasa malamute malinois maltese_dog
    mexican_hairless miniature_pinscher miniature_poodle miniature_schnauzer newfoundland norfolk_terrier
    norwegian_elkhound norwich_terrier old_english_sheepdog otterhound papillon pekinese pembroke pomeranian
    pug redbone rhodesian_ridgeback rottweiler saint_bernard saluki samoyed schipperke scotch_terrier
    scottish_deerhound sealyham_terrier shetland_sheepdog shih-tzu siberian_husky silky_terrier
    soft-coated_wheaten_terrier staffordshire_bullterrier standard_poodle standard_schnauzer sussex_spaniel
    tibetan_mastiff tibetan_terrier toy_poodle toy_terrier vizsla walker_hound weimaraner
    welsh_springer_spaniel west_highland_white_terrier whippet wire-haired_fox_terrier yorkshire_terrier
    """.split()
)
assert len(BREEDS) == 120 and list(BREEDS) == sorted(BREEDS)

DESCRIPTION = """\
# Dog breed identification

A fine-grained image classification task on a subset of ImageNet: every photograph shows a dog
of one of 120 breeds. For each test image, give a probability for every breed.

## Files
- `train/`: training photographs, `<id>.jpg`.
- `labels.csv`: `id`, `breed` for every training photograph.
- `test/`: the photographs to classify, `<id>.jpg`.
- `sample_submission.csv`: `id` followed by one column per breed (120 columns, in alphabetical
  order), one row per test image; it gives every breed the same probability.

## Evaluation
Multi-class logarithmic loss (lower is better). The probabilities of each row must lie in [0, 1]
and sum to 1; they are clipped away from 0 and 1 before the loss is taken.
"""


class DogBreedIdentification(Competition):
    info = supported_entry("dog-breed-identification")
    id_column = "id"
    target_columns = BREEDS

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labels = pd.read_csv(raw_file(raw, "labels.csv"))
        train, test = train_test_split(labels, test_size=0.1, random_state=0)
        images = media_files(raw, "train", ".jpg")
        place_all(images, ((f"{i}.jpg", f"{i}.jpg") for i in train["id"]), public / "train")
        place_all(images, ((f"{i}.jpg", f"{i}.jpg") for i in test["id"]), public / "test")
        breeds = test["breed"].to_numpy()
        one_hot = pd.DataFrame(
            {"id": test["id"].to_numpy(), **{b: (breeds == b).astype(int) for b in BREEDS}},
        )
        sample = pd.DataFrame({"id": test["id"].to_numpy(), **{b: 1 / len(BREEDS) for b in BREEDS}})
        train.to_csv(public / "labels.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        one_hot.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, BREEDS, rows_sum_to_one=True)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        truth = np.argmax(answers[list(BREEDS)].to_numpy(), axis=1)
        return log_loss(truth, submission[list(BREEDS)].to_numpy(), labels=list(range(len(BREEDS))))


register(DogBreedIdentification())
