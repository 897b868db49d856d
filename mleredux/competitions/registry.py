"""The registry of competitions by id."""

from __future__ import annotations

import difflib

from mleredux.competitions.base import Competition, CompetitionInfo
from mleredux.errors import UnknownCompetitionError

_REGISTRY: dict[str, Competition] = {}


def register(competition: Competition) -> Competition:
    """Add a competition; ids are unique."""
    if competition.id in _REGISTRY:
        raise ValueError(f"competition {competition.id!r} is registered twice")
    _REGISTRY[competition.id] = competition
    return competition


def _load_builtin() -> None:
    # Importing a competition module registers it; kept here so importing the registry is enough.
    from mleredux.competitions import demo_digits  # noqa: F401


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
