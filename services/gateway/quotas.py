"""Per-user bounds on how hard one user may drive the gateway: request rate and open event streams.

Each user (not each token: a user with many tokens shares one budget) has a token bucket for its
requests and a count of its open WatchRun streams. Admins are not bounded: they are the operators.
State is in memory and per user seen, a few dozen bytes each; a restart forgets it, which is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mleredux.errors import ResourceExhaustedError
from services.gateway.auth import Principal


@dataclass(frozen=True)
class UserQuota:
    """What one user may ask of the gateway (GatewaySettings.user_quota)."""

    #: Sustained requests per second per user (every authenticated RPC, HTTP or gRPC); 0 for no limit.
    requests_per_second: float = 50.0
    #: Requests a user may send at once above the sustained rate.
    request_burst: int = 500
    #: WatchRun streams (HTTP event streams included) one user may hold open at once; 0 for no limit.
    max_watch_streams: int = 64


@dataclass
class _Bucket:
    tokens: float
    updated: float


class UserQuotas:
    def __init__(self, quota: UserQuota, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._streams: dict[str, int] = {}

    def admit(self, caller: Principal) -> None:
        """Takes one request from the caller's bucket, or refuses it with RESOURCE_EXHAUSTED."""
        rate = self.quota.requests_per_second
        if caller.admin or rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(caller.user)
        if bucket is None:
            bucket = self._buckets[caller.user] = _Bucket(float(self.quota.request_burst), now)
        bucket.tokens = min(float(self.quota.request_burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / rate
            raise ResourceExhaustedError(
                f"rate limited: at most {rate:g} requests per second per user "
                f"(GatewaySettings.user_quota.requests_per_second); try again in {wait:.2f} s"
            )
        bucket.tokens -= 1.0

    @contextmanager
    def watch_stream(self, caller: Principal) -> Iterator[None]:
        """Holds one of the caller's stream slots while the stream is open (released on any exit)."""
        limit = self.quota.max_watch_streams
        if caller.admin or limit <= 0:
            yield
            return
        held = self._streams.get(caller.user, 0)
        if held >= limit:
            raise ResourceExhaustedError(
                f"too many open event streams: {caller.user} has {held}, at most {limit} "
                "(GatewaySettings.user_quota.max_watch_streams); close one first"
            )
        self._streams[caller.user] = held + 1
        try:
            yield
        finally:
            left = self._streams[caller.user] - 1
            if left:
                self._streams[caller.user] = left
            else:
                del self._streams[caller.user]
