"""The competition registry: one module per competition, each registering a `Competition`."""

from __future__ import annotations

from mleredux.competitions.base import Competition, CompetitionInfo
from mleredux.competitions.registry import get_competition, list_competitions, register

__all__ = ["Competition", "CompetitionInfo", "get_competition", "list_competitions", "register"]
