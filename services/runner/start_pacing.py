"""Container starts as a paced resource of the host.

Starting a container costs the host far more CPU than a small run's own budget says: the Docker
engine, containerd, runc and the runner spend ~0.1-0.25 CPU-seconds on each create/start/stop, outside
every container's cgroup. A flood of tiny runs (one tenant's, or an evaluation's) would otherwise spend
the whole machine on starts and starve everything interactive — log streams, the API — for everyone.
`StartPacer` spaces starts out to a rate with a small burst; runs wait for their turn after admission,
so the queue stays fair and nothing is refused.
"""

from __future__ import annotations

import asyncio


class StartPacer:
    """At most `per_second` container starts per second on average, `burst` back to back.
    `per_second` <= 0 disables pacing. A caller cancelled while waiting gives up its turn."""

    def __init__(self, per_second: float, burst: int = 2) -> None:
        self.per_second = per_second
        self.burst = max(burst, 1)
        self._free_at = 0.0
        #: Starts that had to wait, and for how long in all (for metrics and tests).
        self.waited = 0
        self.waited_seconds = 0.0

    async def turn(self) -> None:
        """Returns when this start may go."""
        if self.per_second <= 0:
            return
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.per_second
        now = loop.time()
        # Unused turns accumulate up to `burst`: an idle runner starts a few at once.
        mine = max(self._free_at, now - (self.burst - 1) * interval)
        self._free_at = mine + interval
        if mine > now:
            self.waited += 1
            self.waited_seconds += mine - now
            await asyncio.sleep(mine - now)
