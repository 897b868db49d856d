"""leaf-classification: which of 99 plant species a leaf belongs to; multi-class log loss.

Split (as MLE-bench documents it): Kaggle's labelled `train.csv` (990 leaves: `id`, `species`
and 192 precomputed features `margin1..64`, `shape1..64`, `texture1..64`) is split with
`train_test_split(test_size=0.1, random_state=0)`; the 10% become the test set. Kaggle's own
unlabelled `test.csv` is not used. The public `images/` holds the silhouettes (`<id>.jpg`) of the
new train and test leaves only. The answers are one-hot over Kaggle's 99 species, in the order of
Kaggle's sample submission (`id` then the species); the sample submission gives every species
1/99.

Metric: multi-class logarithmic loss. Each row's probabilities must lie in [0, 1] and sum to 1
(within 1e-6), as MLE-bench requires; they are clipped away from 0 and 1 before the loss is taken.

No deliberate difference from MLE-bench beyond our generic rules (rows matched by id, extra columns
rejected).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import media_files, place_all, raw_file
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import log_loss

#: Kaggle's 99 species, in the order of its sample submission.
SPECIES: tuple[str, ...] = tuple(
    """
    Acer_Capillipes Acer_Circinatum Acer_Mono Acer_Opalus Acer_Palmatum Acer_Pictum Acer_Platanoids
    Acer_Rubrum Acer_Rufinerve Acer_Saccharinum Alnus_Cordata Alnus_Maximowiczii Alnus_Rubra
    Alnus_Sieboldiana Alnus_Viridis Arundinaria_Simonii Betula_Austrosinensis Betula_Pendula
    Callicarpa_Bodinieri Castanea_Sativa Celtis_Koraiensis Cercis_Siliquastrum Cornus_Chinensis
    Cornus_Controversa Cornus_Macrophylla Cotinus_Coggygria Crataegus_Monogyna Cytisus_Battandieri
    Eucalyptus_Glaucescens Eucalyptus_Neglecta Eucalyptus_Urnigera Fagus_Sylvatica Ginkgo_Biloba
    Ilex_Aquifolium Ilex_Cornuta Liquidambar_Styraciflua Liriodendron_Tulipifera
    Lithocarpus_Cleistocarpus Lithocarpus_Edulis Magnolia_Heptapeta Magnolia_Salicifolia Morus_Nigra
    Olea_Europaea Phildelphus Populus_Adenopoda Populus_Grandidentata Populus_Nigra Prunus_Avium
    Prunus_X_Shmittii Pterocarya_Stenoptera Quercus_Afares Quercus_Agrifolia Quercus_Alnifolia
    Quercus_Brantii Quercus_Canariensis Quercus_Castaneifolia Quercus_Cerris Quercus_Chrysolepis
    Quercus_Coccifera Quercus_Coccinea Quercus_Crassifolia Quercus_Crassipes Quercus_Dolicholepis
    Quercus_Ellipsoidalis Quercus_Greggii Quercus_Hartwissiana Quercus_Ilex Quercus_Imbricaria
    Quercus_Infectoria_sub Quercus_Kewensis Quercus_Nigra Quercus_Palustris Quercus_Phellos
    Quercus_Phillyraeoides Quercus_Pontica Quercus_Pubescens Quercus_Pyrenaica Quercus_Rhysophylla
    Quercus_Rubra Quercus_Semecarpifolia Quercus_Shumardii Quercus_Suber Quercus_Texana
    Quercus_Trojana Quercus_Variabilis Quercus_Vulcanica Quercus_x_Hispanica Quercus_x_Turneri
    Rhododendron_x_Russellianum Salix_Fragilis Salix_Intergra Sorbus_Aria Tilia_Oliveri
    Tilia_Platyphyllos Tilia_Tomentosa Ulmus_Bergmanniana Viburnum_Tinus Viburnum_x_Rhytidophylloides
    Zelkova_Serrata
    """.split()
)
assert len(SPECIES) == 99 and len(set(SPECIES)) == 99

DESCRIPTION = """\
# Leaf classification

About 1,600 leaves of 99 plant species were photographed as binary silhouettes on a white
background, and three kinds of features were computed from each: a shape contiguous descriptor, an
interior texture histogram and a fine-scale margin histogram, 64 numbers each. From the features,
the images or both, give for each test leaf a probability for every species.

## Files
- `train.csv`: `id`, `species`, `margin1`..`margin64`, `shape1`..`shape64`, `texture1`..`texture64`.
- `test.csv`: the same without `species`.
- `images/`: one silhouette per leaf of `train.csv` and `test.csv`, `<id>.jpg`.
- `sample_submission.csv`: `id` followed by one column per species (99 columns), one row per test
  leaf; it gives every species the same probability.

## Evaluation
Multi-class logarithmic loss (lower is better). The probabilities of each row must lie in [0, 1]
and sum to 1; they are clipped away from 0 and 1 before the loss is taken.
"""


class LeafClassification(Competition):
    info = supported_entry("leaf-classification")
    id_column = "id"
    target_columns = SPECIES

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        source = pd.read_csv(raw_file(raw, "train.csv"))
        unknown = sorted(set(source["species"]) - set(SPECIES))
        if unknown:
            raise RawFileMissingError(f"the raw train.csv has species outside Kaggle's 99: {unknown[:5]}")
        train, test = train_test_split(source, test_size=0.1, random_state=0)

        images = media_files(raw, "images", ".jpg")
        ids = [*train["id"], *test["id"]]
        place_all(images, ((f"{i}.jpg", f"{i}.jpg") for i in ids), public / "images")

        species = test["species"].to_numpy()
        one_hot = pd.DataFrame({"id": test["id"].to_numpy(), **{s: (species == s).astype(int) for s in SPECIES}})
        sample = one_hot.assign(**dict.fromkeys(SPECIES, 1 / len(SPECIES)))
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=["species"]).to_csv(public / "test.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        one_hot.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, SPECIES, rows_sum_to_one=True)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        truth = np.argmax(answers[list(SPECIES)].to_numpy(), axis=1)
        return log_loss(truth, submission[list(SPECIES)].to_numpy(), labels=list(range(len(SPECIES))))


register(LeafClassification())
