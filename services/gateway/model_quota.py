"""A per-user cap on model use across runs: tokens and/or cost per rolling 24 hours.

At CreateRun a run asking for model endpoints gets budgets no larger than what its owner has left:
finished runs count what they used (`model_usage`), runs still going count their whole budget
(held for them), replays count nothing (they call no provider). With nothing left, CreateRun is
refused naming the quota. Checked and the run created in one step of the event loop, so two
concurrent CreateRuns cannot both spend the same remainder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mleredux.errors import MleReduxError
from mleredux.v1 import common_pb2, gateway_pb2
from services.gateway.state import RunDatabase

WINDOW_SECONDS = 24 * 3600


class ModelQuotaExhaustedError(MleReduxError):
    """The user's daily model quota is used up."""

    grpc_code = "RESOURCE_EXHAUSTED"


@dataclass(frozen=True)
class ModelQuota:
    """0 means no cap."""

    tokens_per_day: int = 0
    cost_per_day_usd: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.tokens_per_day or self.cost_per_day_usd)


def spent(runs: list[gateway_pb2.Run], since: float) -> tuple[int, float]:
    """Tokens and USD the runs created since `since` used or hold."""
    tokens, cost = 0, 0.0
    for run in runs:
        if run.create_time.seconds < since or not run.model_access.endpoints:
            continue
        if run.HasField("model_usage"):
            tokens += run.model_usage.input_tokens + run.model_usage.output_tokens
            cost += run.model_usage.cost_usd
        else:
            tokens += run.model_access.max_tokens
            cost += run.model_access.max_cost_usd
    return tokens, cost


def recent_runs(db: RunDatabase, owner: str, since: float) -> list[gateway_pb2.Run]:
    """The owner's runs created since `since` (newest first, paged)."""
    found: list[gateway_pb2.Run] = []
    token = ""
    while True:
        page, token = db.list_runs(page_size=1000, page_token=token, owner=owner)
        fresh = [r for r in page if r.create_time.seconds >= since]
        found += fresh
        if not token or len(fresh) < len(page):
            return found


def within_quota(
    access: common_pb2.ModelAccess, quota: ModelQuota, db: RunDatabase, owner: str, now: float | None = None
) -> common_pb2.ModelAccess:
    """`access` with its budgets lowered to what `owner` has left today; raises when nothing is left."""
    if not quota.active or not access.endpoints:
        return access
    since = (time.time() if now is None else now) - WINDOW_SECONDS
    used_tokens, used_cost = spent(recent_runs(db, owner, since), since)
    clamped = common_pb2.ModelAccess()
    clamped.CopyFrom(access)
    if quota.tokens_per_day:
        left = quota.tokens_per_day - used_tokens
        if left <= 0:
            raise ModelQuotaExhaustedError(
                f"daily model token quota of {quota.tokens_per_day} used up ({used_tokens} in the last 24 h)"
            )
        clamped.max_tokens = min(access.max_tokens or left, left)
    if quota.cost_per_day_usd:
        left_usd = quota.cost_per_day_usd - used_cost
        if left_usd <= 0:
            raise ModelQuotaExhaustedError(
                f"daily model cost quota of ${quota.cost_per_day_usd:g} used up (${used_cost:.4f} in the last 24 h)"
            )
        clamped.max_cost_usd = min(access.max_cost_usd or left_usd, left_usd)
    return clamped
