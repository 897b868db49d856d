"""The MLE-bench catalog: 75 benchmark competitions in three splits, 7 dev competitions, Lite = low split."""

from __future__ import annotations

from collections import Counter

from mleredux.competitions.catalog import CATALOG, DEV_COMPETITIONS, LITE_COMPETITIONS

CATEGORIES = {"tabular", "text", "image", "audio", "video", "time-series", "multimodal", "other"}

LITE_IDS = {
    "aerial-cactus-identification",
    "aptos2019-blindness-detection",
    "denoising-dirty-documents",
    "detecting-insults-in-social-commentary",
    "dog-breed-identification",
    "dogs-vs-cats-redux-kernels-edition",
    "histopathologic-cancer-detection",
    "jigsaw-toxic-comment-classification-challenge",
    "leaf-classification",
    "mlsp-2013-birds",
    "new-york-city-taxi-fare-prediction",
    "nomad2018-predict-transparent-conductors",
    "plant-pathology-2020-fgvc7",
    "random-acts-of-pizza",
    "ranzcr-clip-catheter-line-classification",
    "siim-isic-melanoma-classification",
    "spooky-author-identification",
    "tabular-playground-series-dec-2021",
    "tabular-playground-series-may-2022",
    "text-normalization-challenge-english-language",
    "text-normalization-challenge-russian-language",
    "the-icml-2013-whale-challenge-right-whale-redux",
}

#: experiments/splits/high.txt of MLE-bench.
HIGH_IDS = {
    "3d-object-detection-for-autonomous-vehicles",
    "bms-molecular-translation",
    "google-research-identify-contrails-reduce-global-warming",
    "hms-harmful-brain-activity-classification",
    "iwildcam-2019-fgvc6",
    "nfl-player-contact-detection",
    "predict-volcanic-eruptions-ingv-oe",
    "rsna-2022-cervical-spine-fracture-detection",
    "rsna-breast-cancer-detection",
    "rsna-miccai-brain-tumor-radiogenomic-classification",
    "siim-covid19-detection",
    "smartphone-decimeter-2022",
    "stanford-covid-vaccine",
    "vesuvius-challenge-ink-detection",
    "vinbigdata-chest-xray-abnormalities-detection",
}

#: experiments/splits/dev.txt of MLE-bench.
DEV_IDS = {
    "invasive-species-monitoring",
    "ml2021spring-hw2",
    "movie-review-sentiment-analysis-kernels-only",
    "paddy-disease-classification",
    "plant-seedlings-classification",
    "playground-series-s3e18",
    "spaceship-titanic",
}


def benchmark() -> list:
    return [info for info in CATALOG if info.id not in DEV_COMPETITIONS]


def test_ids_are_unique() -> None:
    ids = [info.id for info in CATALOG]
    assert len(ids) == len(set(ids)) == 82


def test_75_benchmark_and_7_dev_competitions() -> None:
    assert len(benchmark()) == 75
    assert DEV_COMPETITIONS == DEV_IDS
    assert DEV_COMPETITIONS <= {info.id for info in CATALOG}


def test_lite_is_the_low_split() -> None:
    assert LITE_COMPETITIONS == LITE_IDS
    assert {info.id for info in benchmark() if info.complexity == "low"} == LITE_IDS
    assert not LITE_COMPETITIONS & DEV_COMPETITIONS


def test_complexity_counts_match_the_split_files() -> None:
    counts = Counter(info.complexity for info in benchmark())
    assert counts == {"low": 22, "medium": 38, "high": 15}
    assert {info.id for info in benchmark() if info.complexity == "high"} == HIGH_IDS


def test_dev_competitions_are_low_and_say_dev() -> None:
    for info in CATALOG:
        if info.id in DEV_COMPETITIONS:
            assert info.complexity == "low"
            assert "dev" in info.summary.lower()


def test_every_entry_is_complete() -> None:
    for info in CATALOG:
        assert info.metric.strip(), info.id
        assert info.name.strip(), info.id
        assert info.summary.strip(), info.id
        assert info.category in CATEGORIES, info.id
        assert info.approx_size_bytes > 0, info.id
        assert info.supported is False and info.offline is False, info.id


def test_direction_of_some_metrics() -> None:
    by_id = {info.id: info for info in CATALOG}
    assert by_id["spooky-author-identification"].is_lower_better
    assert by_id["new-york-city-taxi-fare-prediction"].is_lower_better
    assert not by_id["aerial-cactus-identification"].is_lower_better
    assert not by_id["osic-pulmonary-fibrosis-progression"].is_lower_better


def test_registered_competitions_agree_with_the_catalog() -> None:
    from mleredux.competitions.registry import list_competitions

    by_id = {info.id: info for info in CATALOG}
    for registered in list_competitions():
        listed = by_id.get(registered.id)
        if listed is None:
            continue  # e.g. the offline demo, which is not an MLE-bench competition
        assert registered.is_lower_better == listed.is_lower_better, registered.id
        assert registered.complexity == listed.complexity, registered.id
