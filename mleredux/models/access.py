"""A run's model access request from the CLI's flags (`mleredux run --model-endpoint ...`)."""

from __future__ import annotations

import math

from mleredux.errors import InvalidArgumentError
from mleredux.v1 import common_pb2


def model_access(
    endpoints: list[str] | None = None,
    *,
    max_requests: int = 0,
    max_tokens: int = 0,
    max_cost_usd: float = 0.0,
    replay_run_id: str = "",
) -> common_pb2.ModelAccess | None:
    """The `CreateRun.model_access` for these flags; None when the run asks for no model access."""
    if max_requests < 0 or max_tokens < 0:
        raise InvalidArgumentError("--max-model-requests and --max-model-tokens must not be negative")
    if not math.isfinite(max_cost_usd) or max_cost_usd < 0:
        raise InvalidArgumentError("--max-model-cost must be a non-negative number of USD")
    if not endpoints and not replay_run_id:
        if max_requests or max_tokens or max_cost_usd:
            raise InvalidArgumentError("model budgets need --model-endpoint NAME (or --replay RUN_ID)")
        return None
    return common_pb2.ModelAccess(
        endpoints=list(dict.fromkeys(endpoints or [])),
        max_requests=max_requests,
        max_tokens=max_tokens,
        max_cost_usd=max_cost_usd,
        replay_run_id=replay_run_id,
    )
