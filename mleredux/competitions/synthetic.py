"""Synthetic leaderboards for the offline demo competitions, which have no Kaggle leaderboard.

The scores are drawn by each demo to sit where real entries would; this module only lays them out
in Kaggle's leaderboard columns, so medal thresholds work as they do for real competitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_leaderboard(scores: np.ndarray, *, first_team_id: int, start: str, every: str) -> pd.DataFrame:
    """One row per score (best first as given), with made-up team ids, names and submission dates."""
    teams = len(scores)
    dates = pd.date_range(start, periods=teams, freq=every)
    return pd.DataFrame(
        {
            "teamId": np.arange(first_team_id, first_team_id + teams),
            "teamName": [f"synthetic-team-{i:03d}" for i in range(teams)],
            "submissionDate": dates.strftime("%Y-%m-%d %H:%M:%S"),
            "score": scores,
        }
    )
