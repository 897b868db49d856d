"""The competitions the preparer confirmed lately, so that a burst of CreateRuns (an evaluation's
runs, a script creating hundreds) asks it once per competition rather than once per run.

Only a confirmed id is kept, for `KNOWN_SECONDS`: an unknown one is asked about every time (and
fails at once), so what is held is bounded by the preparer's registry, not by what callers send.
A competition the preparer stops knowing within that time fails in PREPARING, with its reason.
"""

from __future__ import annotations

import time

#: How long a confirmed competition is taken as known without asking again.
KNOWN_SECONDS = 30.0


class KnownCompetitions:
    def __init__(self, seconds: float = KNOWN_SECONDS) -> None:
        self._seconds = seconds
        self._until: dict[str, float] = {}

    def known(self, competition_id: str) -> bool:
        until = self._until.get(competition_id)
        if until is None:
            return False
        if until < time.monotonic():
            del self._until[competition_id]
            return False
        return True

    def confirmed(self, competition_id: str) -> None:
        self._until[competition_id] = time.monotonic() + self._seconds
