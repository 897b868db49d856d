"""The per-user daily model quota against a real run database (SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mleredux.v1 import common_pb2, gateway_pb2
from services.gateway.model_quota import ModelQuota, ModelQuotaExhaustedError, within_quota
from services.gateway.state import RunDatabase

NOW = time.time()


def add_run(db: RunDatabase, run_id: str, owner: str, *, age: float, used: int | None = None, budget: int = 0) -> None:
    run = gateway_pb2.Run(run_id=run_id, owner=owner, competition_id="c", agent="a")
    run.create_time.FromSeconds(int(NOW - age))
    run.model_access.CopyFrom(common_pb2.ModelAccess(endpoints=["e"], max_tokens=budget))
    if used is not None:
        run.model_usage.CopyFrom(
            common_pb2.ModelUsage(calls=1, input_tokens=used // 2, output_tokens=used - used // 2, cost_usd=used / 1000)
        )
    db.create_run(run)


def ask(**budgets: float) -> common_pb2.ModelAccess:
    return common_pb2.ModelAccess(endpoints=["e"], **budgets)  # type: ignore[arg-type]


def test_budgets_are_lowered_to_what_is_left_today_and_refused_when_nothing_is(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "runs.db")
    add_run(db, "done", "ann", age=3600, used=600)  # finished: what it used
    add_run(db, "going", "ann", age=60, budget=300)  # still going: its whole budget is held
    add_run(db, "old", "ann", age=2 * 86400, used=10_000)  # outside the window
    add_run(db, "bob", "bob", age=60, used=900)  # another user
    quota = ModelQuota(tokens_per_day=1000)
    assert within_quota(ask(), quota, db, "ann", NOW).max_tokens == 100
    assert within_quota(ask(max_tokens=40), quota, db, "ann", NOW).max_tokens == 40
    assert within_quota(ask(max_tokens=5000), quota, db, "bob", NOW).max_tokens == 100
    assert within_quota(ask(), quota, db, "cat", NOW).max_tokens == 1000
    add_run(db, "more", "ann", age=10, budget=100)
    with pytest.raises(
        ModelQuotaExhaustedError, match=r"daily model token quota of 1000 used up \(1000 in the last 24 h\)"
    ):
        within_quota(ask(), quota, db, "ann", NOW)
    # A replay calls no provider: never refused, never counted.
    replay = common_pb2.ModelAccess(replay_run_id="done")
    assert within_quota(replay, quota, db, "ann", NOW) == replay
    db.close()


def test_a_cost_quota(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "runs.db")
    add_run(db, "r1", "ann", age=10, used=1500)  # $1.50
    quota = ModelQuota(cost_per_day_usd=2.0)
    assert within_quota(ask(), quota, db, "ann", NOW).max_cost_usd == pytest.approx(0.5)
    with pytest.raises(ModelQuotaExhaustedError, match="daily model cost quota of \\$1"):
        within_quota(ask(), ModelQuota(cost_per_day_usd=1.0), db, "ann", NOW)
    assert within_quota(ask(), ModelQuota(), db, "ann", NOW) == ask()  # no quota: untouched
    db.close()
