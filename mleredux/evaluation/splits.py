"""Competition sets by name, from the registry: MLE-bench's splits and this project's offline demos.

`lite` is MLE-bench Lite (the 22 competitions of the low split); `low`, `medium` and `high` are the
benchmark's complexity splits, `all` its 75 competitions, `dev` its development competitions; `demo`
is the offline demos this project bundles (they belong to no MLE-bench split).
"""

from __future__ import annotations

from mleredux.competitions import list_competitions
from mleredux.competitions.catalog import CATALOG, DEV_COMPETITIONS, LITE_COMPETITIONS
from mleredux.errors import InvalidArgumentError

SPLIT_NAMES: tuple[str, ...] = ("lite", "low", "medium", "high", "all", "dev", "demo")


def split_competitions(name: str) -> list[str]:
    """The competition ids of a named split, sorted; InvalidArgumentError for an unknown name."""
    benchmark = [info for info in CATALOG if info.id not in DEV_COMPETITIONS]
    if name == "lite":
        ids = set(LITE_COMPETITIONS)
    elif name in ("low", "medium", "high"):
        ids = {info.id for info in benchmark if info.complexity == name}
    elif name == "all":
        ids = {info.id for info in benchmark}
    elif name == "dev":
        ids = set(DEV_COMPETITIONS)
    elif name == "demo":
        catalogued = {info.id for info in CATALOG}
        ids = {info.id for info in list_competitions() if info.offline and info.id not in catalogued}
    else:
        raise InvalidArgumentError(f"unknown split {name!r}; known splits: {', '.join(SPLIT_NAMES)}")
    return sorted(ids)


def complexity_of(competition_ids: list[str]) -> dict[str, str]:
    """Each competition's complexity as the registry records it (low, medium or high)."""
    by_id = {info.id: info.complexity for info in list_competitions()}
    return {cid: by_id.get(cid, "low") for cid in competition_ids}
