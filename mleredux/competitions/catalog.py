"""Metadata of every competition in MLE-bench, loaded from `catalog.toml` (the data lives there).

The file holds one array of tables per MLE-bench split (`low`, `medium`, `high`) and one for its dev
competitions, which belong to no split and are listed as "low". Every entry is loaded with
`supported=False` and `offline=False`: the registry switches on the ones it has a module for.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from typing import Any

from mleredux.competitions.base import CompetitionInfo, Complexity

_SPLITS: dict[str, Complexity] = {"low": "low", "medium": "medium", "high": "high", "dev": "low"}
#: What an entry of `catalog.toml` does not need to write.
_DEFAULTS: dict[str, Any] = {"is_lower_better": False}


def _load() -> dict[str, tuple[CompetitionInfo, ...]]:
    data = tomllib.loads(resources.files(__package__).joinpath("catalog.toml").read_text(encoding="utf-8"))
    unknown = set(data) - set(_SPLITS)
    if unknown:
        raise ValueError(f"catalog.toml: unknown split(s) {sorted(unknown)}; expected {sorted(_SPLITS)}")
    return {
        split: tuple(
            CompetitionInfo(**{**_DEFAULTS, **entry, "complexity": complexity, "supported": False, "offline": False})
            for entry in data.get(split, [])
        )
        for split, complexity in _SPLITS.items()
    }


_BY_SPLIT = _load()

#: Every competition, in the file's order: low, medium, high, then dev.
CATALOG: tuple[CompetitionInfo, ...] = tuple(info for infos in _BY_SPLIT.values() for info in infos)
#: Competitions MLE-bench keeps for developing agents; not part of the 75 benchmark competitions.
DEV_COMPETITIONS: frozenset[str] = frozenset(info.id for info in _BY_SPLIT["dev"])
#: MLE-bench Lite: the 22 competitions of the low-complexity split.
LITE_COMPETITIONS: frozenset[str] = frozenset(info.id for info in _BY_SPLIT["low"])

_BY_ID: dict[str, CompetitionInfo] = {info.id: info for info in CATALOG}


def supported_entry(competition_id: str) -> CompetitionInfo:
    """The catalog's metadata, switched on, for a competition whose module prepares and grades it.

    A competition module takes its `info` from here, so the catalog stays the one place its name,
    metric, direction, complexity and size are written.
    """
    try:
        return dataclasses.replace(_BY_ID[competition_id], supported=True)
    except KeyError:
        raise KeyError(
            f"{competition_id!r} is not in the MLE-bench catalog; give its module its own CompetitionInfo"
        ) from None
