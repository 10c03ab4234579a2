"""Live metrics over time: flapping never rolls back, a sustained breach rolls back exactly once,
and repeated breaches stop at the policy's cap and ask for a human."""

from __future__ import annotations

from .rig import Rig, wait_for


def test_flapping_then_sustained_breach_rolls_back_exactly_once(rig: Rig):
    scenario = "flapping and sustained"
    rig.promote_fully(scenario, "flap", 1)
    rig.promote_fully(scenario, "flap", 2)
    flapping = rig.windows(scenario, "flap", "2", "bgbgbgbgbg")
    assert "rolled_back" not in flapping, flapping
    sustained = rig.windows(scenario, "flap", "2", "bbbbb")
    assert sustained.count("rolled_back") == 1, sustained
    assert sustained[sustained.index("rolled_back") + 1 :] == ["stale"] * (
        4 - sustained.index("rolled_back")
    )
    assert rig.ledger.load("flap").state.champion.version == "1"
    rig.check_serving("flap")
    rig.settle(scenario)


def test_repeated_breaches_stop_at_the_cap_and_ask_for_a_human(rig: Rig):
    scenario = "rollback cap"
    # max_rollbacks: 2. Two promotions are rolled back by a sustained breach; the third breach
    # is not rolled back but asks for a human.
    rig.promote_fully(scenario, "cap", 1)
    for version in (2, 3):
        rig.promote_fully(scenario, "cap", version)
        breach = rig.windows(scenario, "cap", str(version), "bbb")
        assert breach[-1] == "rolled_back", (version, breach)
        assert rig.ledger.load("cap").state.champion.version == "1"
    rig.promote_fully(scenario, "cap", 4)
    last = rig.windows(scenario, "cap", "4", "bbb")
    assert last[-1] == "needs_human", last
    state = rig.ledger.load("cap").state
    assert state.paused and state.champion.version == "4"
    # Paused: a passing evaluation is held for a human, not promoted.
    key = rig.publish(scenario, rig.evaluation("cap", 5))
    assert wait_for(lambda: rig.outcome(key), 60, "the held evaluation").kind == "held"
    rig.check_serving("cap")
    rig.settle(scenario)
