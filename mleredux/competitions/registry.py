"""The registry of competitions by id.

Every competition of MLE-bench's catalog is listed; the ones with a module (which registers a
`Competition` on import) are supported, the rest answer as `ListedCompetition`, whose prepare and
score say clearly that the competition is listed but not supported yet.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mleredux.competitions.base import Competition, CompetitionInfo
from mleredux.competitions.raw import RawData
from mleredux.errors import CompetitionNotSupportedError, UnknownCompetitionError

if TYPE_CHECKING:  # annotations only (see base.py)
    import pandas as pd

_REGISTRY: dict[str, Competition] = {}


class ListedCompetition(Competition):
    """A catalog entry with no module yet: its metadata only."""

    id_column = "id"

    def __init__(self, info: CompetitionInfo) -> None:
        self.info = info  # type: ignore[misc]  # per-instance metadata for catalog-only entries

    def _unsupported(self) -> CompetitionNotSupportedError:
        return CompetitionNotSupportedError(
            f"competition {self.id!r} is listed (MLE-bench, {self.info.complexity} complexity) but not supported yet: "
            "it has no preparation or grader module. docs/competitions.md shows how to add one."
        )

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        raise self._unsupported()

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        raise self._unsupported()


def register(competition: Competition) -> Competition:
    """Add a competition; ids are unique."""
    if competition.id in _REGISTRY and not isinstance(_REGISTRY[competition.id], ListedCompetition):
        raise ValueError(f"competition {competition.id!r} is registered twice")
    _REGISTRY[competition.id] = competition
    return competition


_loaded = False
# Services grade in worker threads: the first calls arrive together, and none may see a half-filled
# registry (a grader restarted mid-backlog once answered "unknown competition 'demo-digits'").
_loading = threading.Lock()


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    with _loading:
        if not _loaded:
            _import_builtin()
            _loaded = True


def _import_builtin() -> None:
    # Importing a competition module registers it; every module of the `lite` package is one.
    from mleredux.competitions import demo_breast_cancer, demo_diabetes, demo_digits, lite  # noqa: F401

    for module in pkgutil.iter_modules(lite.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{lite.__name__}.{module.name}")
    from mleredux.competitions.catalog import CATALOG

    for info in CATALOG:
        if info.id not in _REGISTRY:
            _REGISTRY[info.id] = ListedCompetition(info)


def _load_one(competition_id: str) -> None:
    """Import only the module named after `competition_id`, when there is one.

    Grading one competition then imports one module (and what it needs), not every competition's:
    a one-shot `grade-sample` starts in a fraction of the time. Any other lookup loads them all.
    """
    module = competition_id.replace("-", "_")
    if not module.isidentifier() or module.startswith("_"):
        return
    for package in ("mleredux.competitions.lite", "mleredux.competitions"):
        try:
            importlib.import_module(f"{package}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{module}":
                raise
            continue
        return


def get_competition(competition_id: str) -> Competition:
    """The competition with that id, or UnknownCompetitionError listing the known ids."""
    if not _loaded and competition_id not in _REGISTRY:
        _load_one(competition_id)
    if competition_id in _REGISTRY:
        return _REGISTRY[competition_id]
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
    """Metadata of every competition, supported or listed only, by id."""
    _load_builtin()
    return [_REGISTRY[key].info for key in sorted(_REGISTRY)]
