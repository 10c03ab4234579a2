"""The tick runs its chores after the re-drives, within its budget, and survives a chore's outage."""

from __future__ import annotations

from collections import Counter

from interlock.core.errors import TransientError
from interlock.handlers import Handler
from interlock.tick import Ticker
from tests.handlers.world import World


class Counting:
    name = "count"

    def __init__(self, fail: bool = False) -> None:
        self.runs = 0
        self.fail = fail

    def run(self, handler: Handler, deadline: float) -> Counter[str]:
        self.runs += 1
        if self.fail:
            raise TransientError("monitoring: 503 from upstream")
        return Counter(done=2)


def test_chore_counts_are_reported_under_its_name():
    w = World()
    chore = Counting()
    assert Ticker(w.handler, chores=[chore]).tick() == {"count.done": 2}
    assert chore.runs == 1


def test_a_chore_whose_upstream_is_down_is_deferred_and_the_next_chore_still_runs():
    w = World()
    down, up = Counting(fail=True), Counting()
    up.name = "other"
    report = Ticker(w.handler, chores=[down, up]).tick()
    assert report == {"count.deferred": 1, "other.done": 2}


def test_no_chore_starts_once_the_tick_budget_is_spent():
    w = World()
    chore = Counting()
    report = Ticker(w.handler, tick_budget_s=0.0, chores=[chore]).tick()
    assert report == {"count.left": 1}
    assert chore.runs == 0
