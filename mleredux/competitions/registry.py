"""The registry of competitions by id."""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from mleredux.competitions.base import Competition, CompetitionInfo
from mleredux.errors import UnknownCompetitionError

_REGISTRY: dict[str, Competition] = {}


def register(competition: Competition) -> Competition:
    """Add a competition; ids are unique."""
    if competition.id in _REGISTRY:
        raise ValueError(f"competition {competition.id!r} is registered twice")
    _REGISTRY[competition.id] = competition
    return competition


_loaded = False


def _load_builtin() -> None:
    # Importing a competition module registers it; every module of the `lite` package is one.
    global _loaded
    if _loaded:
        return
    _loaded = True
    from mleredux.competitions import demo_digits, lite  # noqa: F401

    for module in pkgutil.iter_modules(lite.__path__):
        importlib.import_module(f"{lite.__name__}.{module.name}")


def get_competition(competition_id: str) -> Competition:
    """The competition with that id, or UnknownCompetitionError listing the known ids."""
    _load_builtin()
    try:
        return _REGISTRY[competition_id]
    except KeyError:
        known = sorted(_REGISTRY)
        close = difflib.get_close_matches(competition_id, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownCompetitionError(
            f"unknown competition {competition_id!r}.{hint} Known competitions: {', '.join(known)}"
        ) from None


def list_competitions() -> list[CompetitionInfo]:
    """Metadata of every registered competition, by id."""
    _load_builtin()
    return [_REGISTRY[key].info for key in sorted(_REGISTRY)]
