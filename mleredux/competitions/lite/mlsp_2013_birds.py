"""mlsp-2013-birds: which of 19 bird species sing in a 10 s field recording; ROC AUC over (recording, species).

Split (as MLE-bench documents it): from Kaggle's `mlsp_contest_dataset.zip`, only the recordings
of the original training fold (`fold == 0` in `essential_data/CVfolds_2.txt`, 322 of 645) are
kept, in file order, and renumbered 0..321 (`rec_id` = position). 20% of them,
`sample(frac=0.2, random_state=0)` on that table (64 recordings), become the test set, marked
`fold = 1` in the public `CVfolds_2.txt`. Every public file is restricted to the kept recordings
with the new `rec_id`s: `rec_id2filename.txt`, `rec_labels_test_hidden.txt` (test recordings show
`?`, recordings without birds a bare `rec_id`), the WAVs, the four spectrogram folders, and
`histogram_of_segments.txt`, `segment_features.txt`, `segment_rectangles.txt`; `species_list.txt`,
`segment_clusters.bmp` and `segment_mosaic.bmp` are copied as they are. The answers
(`answers.csv`) and the sample submission use Kaggle's later format `Id,Probability` with
`Id = rec_id * 100 + species` (19 rows per test recording); the sample predicts 0. The metric is
the ROC AUC over all (recording, species) rows at once.

Deliberate difference from MLE-bench: the three filtered feature files keep their own header line
(MLE-bench writes the histogram's header, `rec_id,[histogram of segment features]`, on all three).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import place
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.grading.metrics import roc_auc

TARGET = "Probability"
N_SPECIES = 19
#: Spectrogram folders of `supplemental_data/` with one BMP per recording (segmentation examples: some).
SPECTROGRAM_FOLDERS = ("filtered_spectrograms", "spectrograms", "supervised_segmentation")
FEATURE_FILES = ("histogram_of_segments.txt", "segment_features.txt", "segment_rectangles.txt")

DESCRIPTION = """\
# MLSP 2013 bird classification challenge

Ten-second field recordings (mono WAV, 16 kHz) from an experimental forest in Oregon, with rain,
wind and insects in the background. A recording may hold several of 19 bird species, or none.
For every test recording and every species, predict the probability that the species is heard.

## Files
- `essential_data/src_wavs/<filename>.wav`: every recording, training and test.
- `essential_data/rec_id2filename.txt`: `rec_id,filename`.
- `essential_data/CVfolds_2.txt`: `rec_id,fold`; fold 0 is training, fold 1 is test.
- `essential_data/rec_labels_test_hidden.txt`: one line per recording, `rec_id,<species>,...`
  (the species present; a bare `rec_id` when none), or `rec_id,?` for test recordings.
- `essential_data/species_list.txt`: the 19 species, numbered 0 to 18.
- `supplemental_data/`: spectrograms (`spectrograms/`, noise-filtered `filtered_spectrograms/`),
  a baseline segmentation (`supervised_segmentation/`, hand-drawn `segmentation_examples/` for a
  few training recordings, `segment_mosaic.bmp`, `segment_clusters.bmp`) and features computed
  from it: `segment_features.txt` (38 numbers per segment), `segment_rectangles.txt` (a bounding
  box per segment) and `histogram_of_segments.txt` (a 100-bin histogram per recording).
- `sample_submission.csv`: `Id,Probability`, 19 rows per test recording, where
  `Id = rec_id * 100 + species` (recording 3, species 7 is `Id` 307).

## Evaluation
The area under the ROC curve between the predicted probabilities (in [0, 1]) and the truth, over
all (recording, species) rows together; higher is better.
"""


def _data_lines(path: Path) -> tuple[str, list[str]]:
    """The header line and the non-empty data lines of one of the dataset's text files."""
    lines = path.read_text().splitlines()
    if not lines:
        raise RawFileMissingError(f"{path} is empty")
    return lines[0], [line for line in lines[1:] if line.strip()]


def _filter_by_rec_id(source: Path, target: Path, new_ids: dict[int, int]) -> None:
    """Keep the lines of kept recordings, their first field renumbered; the header stays."""
    header, lines = _data_lines(source)
    out = [header]
    for line in lines:
        first, _, rest = line.partition(",")
        old = int(first)
        if old in new_ids:
            out.append(f"{new_ids[old]},{rest}")
    target.write_text("\n".join(out) + "\n")


def _copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise RawFileMissingError(f"the raw data lacks {source.name} (looked for {source})")
    place(source, target)


class Mlsp2013Birds(Competition):
    info = supported_entry("mlsp-2013-birds")
    id_column = "Id"
    target_columns = (TARGET,)
    answers_file = "answers.csv"

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        essential = raw.path("essential_data/CVfolds_2.txt").parent
        supplemental = essential.parent / "supplemental_data"
        (public / "essential_data").mkdir(exist_ok=True)
        (public / "supplemental_data").mkdir(exist_ok=True)

        # The original training fold, renumbered; 20% of it becomes the test set.
        folds = pd.read_csv(essential / "CVfolds_2.txt")
        folds = folds[folds["fold"] == 0].reset_index(drop=True)
        folds.loc[folds.sample(frac=0.2, random_state=0).index, "fold"] = 1
        new_ids = {int(old): new for new, old in enumerate(folds["rec_id"].to_numpy())}
        folds["rec_id"] = folds.index
        folds.to_csv(public / "essential_data" / "CVfolds_2.txt", index=False)
        test_ids = [int(i) for i in folds.loc[folds["fold"] == 1, "rec_id"]]
        test_set = set(test_ids)

        names = pd.read_csv(essential / "rec_id2filename.txt")
        names = names[names["rec_id"].isin(list(new_ids))].copy()
        names["rec_id"] = names["rec_id"].map(new_ids)
        if len(names) != len(folds):
            raise RawFileMissingError(f"rec_id2filename.txt names {len(names)} of the {len(folds)} recordings")
        names.to_csv(public / "essential_data" / "rec_id2filename.txt", index=False)

        _, lines = _data_lines(essential / "rec_labels_test_hidden.txt")
        labels: list[tuple[int, str]] = []
        for line in lines:
            first, _, rest = line.partition(",")
            if int(first) in new_ids:
                labels.append((new_ids[int(first)], rest))
        public_lines = ["rec_id,[labels]"]
        for rec_id, species in labels:
            shown = "?" if rec_id in test_set else species
            public_lines.append(f"{rec_id},{shown}" if shown else f"{rec_id}")
        (public / "essential_data" / "rec_labels_test_hidden.txt").write_text("\n".join(public_lines) + "\n")

        answer_ids: list[int] = []
        truth: list[int] = []
        for rec_id, species in labels:
            if rec_id not in test_set:
                continue
            present = {int(s) for s in species.split(",") if s.strip()}
            for k in range(N_SPECIES):
                answer_ids.append(rec_id * 100 + k)
                truth.append(int(k in present))
        answers = pd.DataFrame({"Id": answer_ids, TARGET: truth})
        if len(answers) != len(test_ids) * N_SPECIES:
            raise RawFileMissingError("rec_labels_test_hidden.txt lacks labels for some test recordings")
        answers.to_csv(private / self.answers_file, index=False)
        sample_ids = [rec_id * 100 + k for rec_id in test_ids for k in range(N_SPECIES)]
        pd.DataFrame({"Id": sample_ids, TARGET: 0}).to_csv(public / "sample_submission.csv", index=False)

        _copy(essential / "species_list.txt", public / "essential_data" / "species_list.txt")
        self._copy_media(names["filename"], essential, supplemental, public)
        for name in ("segment_clusters.bmp", "segment_mosaic.bmp"):
            _copy(supplemental / name, public / "supplemental_data" / name)
        for name in FEATURE_FILES:
            _filter_by_rec_id(supplemental / name, public / "supplemental_data" / name, new_ids)
        (public / "description.md").write_text(DESCRIPTION)

    @staticmethod
    def _copy_media(filenames: Iterable[str], essential: Path, supplemental: Path, public: Path) -> None:
        for filename in filenames:
            _copy(
                essential / "src_wavs" / f"{filename}.wav", public / "essential_data" / "src_wavs" / f"{filename}.wav"
            )
            for folder in SPECTROGRAM_FOLDERS:
                _copy(
                    supplemental / folder / f"{filename}.bmp", public / "supplemental_data" / folder / f"{filename}.bmp"
                )
            example = supplemental / "segmentation_examples" / f"{filename}.bmp"
            if example.is_file():
                place(example, public / "supplemental_data" / "segmentation_examples" / f"{filename}.bmp")
        for folder in (*SPECTROGRAM_FOLDERS, "segmentation_examples"):
            (public / "supplemental_data" / folder).mkdir(parents=True, exist_ok=True)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(Mlsp2013Birds())
