"""What a `WatchRun` stream sends: a run's events from a seq on, from memory while the watcher keeps
up, from the database when it falls behind or replays, then (unless `no_follow`) each new batch as
it arrives, until the run has ended and its last event is out.

A watcher that is caught up takes the batch just notified (durable already), as the runner encoded
it when it can (encoded_responses.py); one that falls behind catches up from SQLite and never holds a
buffer of its own, so it cannot slow the run or other watchers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from mleredux.v1 import gateway_pb2
from services.gateway.orchestration import EventHub
from services.gateway.reads import OffLoopReads
from services.gateway.state import RunDatabase, is_terminal

#: How long a watcher sleeps between looks when nothing wakes it (a safety net, not the mechanism).
WATCH_POLL_SECONDS = 1.0


class WatchInterrupted(Exception):
    """The gateway is shutting down: the stream ends, and the client resumes at `next_seq`."""

    def __init__(self, next_seq: int) -> None:
        super().__init__(f"the gateway is shutting down; resume with from_seq={next_seq}")
        self.next_seq = next_seq


async def watch_responses(
    hub: EventHub,
    reads: OffLoopReads,
    db: RunDatabase,
    run: gateway_pb2.Run,
    from_seq: int,
    *,
    no_follow: bool = False,
    closing: Callable[[], bool] = lambda: False,
) -> AsyncGenerator[gateway_pb2.WatchRunResponse | bytes, None]:
    """The stream's messages, each a `WatchRunResponse` or its encoding (sent as it is). Raises
    `WatchInterrupted` once `closing()` is true."""
    run_id = run.run_id
    next_seq = max(from_seq, 1)
    while True:
        if closing():
            raise WatchInterrupted(next_seq)
        held = hub.held(run_id, next_seq)
        if held is not None and held.encoded is not None and held.first_seq == next_seq:
            next_seq = held.last_seq + 1
            yield held.encoded
            continue
        if held is not None:
            events = held.events_from(next_seq)
            next_seq = events[-1].seq + 1
            yield gateway_pb2.WatchRunResponse(events=events)
            continue
        # Further behind (or replaying): the stored encodings, sent as they are. A watcher just past
        # the newest held batch is caught up and has nothing to read there.
        if not hub.caught_up(run_id, next_seq):
            pages = await reads.encoded_from(run_id, next_seq)
            if pages:
                for page in pages:
                    next_seq = page.last_seq + 1
                    yield page.data
                continue
        run = db.get_run(run_id)
        if no_follow or (is_terminal(run.state) and run.last_seq < next_seq):
            return
        # A batch notified while the database was read woke no one: without this look it waited for
        # the next notify (a line held back until the one after it) or for the poll.
        if hub.held(run_id, next_seq) is None:
            await hub.wait(run_id, WATCH_POLL_SECONDS)
