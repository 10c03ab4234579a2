"""Live metrics over time: flapping never rolls back, a sustained breach rolls back exactly once,
and repeated breaches stop at the policy's cap and ask for a human."""

from __future__ import annotations

from .rig import Rig, wait_for
from .test_ordering import promote_fully


def windows(rig: Rig, scenario: str, model: str, version: str, pattern: str) -> list[str]:
    """Publish windows one at a time ('g' healthy, 'b' breach), each decided before the next."""
    kinds = []
    for mark in pattern:
        key = rig.publish(scenario, rig.observation(model, version, healthy=mark == "g"))
        kinds.append(wait_for(lambda k=key: rig.outcome(k), 60, "a window's decision").kind)
    return kinds


def test_flapping_then_sustained_breach_rolls_back_exactly_once(rig: Rig):
    scenario = "flapping and sustained"
    promote_fully(rig, scenario, "cap", 1)
    promote_fully(rig, scenario, "cap", 2)
    flapping = windows(rig, scenario, "cap", "2", "bgbgbgbgbg")
    assert "rolled_back" not in flapping, flapping
    sustained = windows(rig, scenario, "cap", "2", "bbbbb")
    assert sustained.count("rolled_back") == 1, sustained
    assert sustained[sustained.index("rolled_back") + 1 :] == ["stale"] * (
        4 - sustained.index("rolled_back")
    )
    rig.check_serving("cap")
    rig.settle(scenario)


def test_repeated_breaches_stop_at_the_cap_and_ask_for_a_human(rig: Rig):
    scenario = "rollback cap"
    # Rollback 1 happened above (max_rollbacks: 2). One more promotion and breach: rollback 2.
    promote_fully(rig, scenario, "cap", 3)
    assert windows(rig, scenario, "cap", "3", "bbb")[-1] == "rolled_back"
    promote_fully(rig, scenario, "cap", 4)
    last = windows(rig, scenario, "cap", "4", "bbb")
    assert last[-1] == "needs_human", last
    state = rig.ledger.load("cap").state
    assert state.paused and state.champion.version == "4"
    # Paused: a passing evaluation is held for a human, not promoted.
    key = rig.publish(scenario, rig.evaluation("cap", 5))
    assert wait_for(lambda: rig.outcome(key), 60, "the held evaluation").kind == "held"
    rig.check_serving("cap")
    rig.settle(scenario)
