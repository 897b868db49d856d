"""The gateway's memory of competitions the preparer confirmed: kept for a while, never an unknown one."""

from __future__ import annotations

from services.gateway.known_competitions import KnownCompetitions


def test_a_confirmed_competition_is_known_until_its_time_is_up() -> None:
    recent = KnownCompetitions(seconds=60)
    assert not recent.known("demo-digits")  # never asked: the preparer is asked
    recent.confirmed("demo-digits")
    assert recent.known("demo-digits") and not recent.known("demo-iris")
    lapsed = KnownCompetitions(seconds=-1)  # confirmed already past its time
    lapsed.confirmed("demo-digits")
    assert not lapsed.known("demo-digits") and not lapsed._until  # and forgotten
