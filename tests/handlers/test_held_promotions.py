"""Held promotions strand nothing: a good evaluation held by a cooldown is re-decided by the
tick once the cooldown ends, newest first, and twin ticks decide it once."""

from __future__ import annotations

from datetime import timedelta

from interlock.core.events import RollbackRequested
from interlock.tick import Ticker
from tests.handlers.world import World, evaluation, inbound


def in_cooldown() -> World:
    """Champion v1, canary v2 rolled back by hand: the model is in its 30 min cooldown."""
    w = World()
    assert w.handler.handle(inbound(evaluation("1"), "m0")).kind == "promoted"
    assert w.handler.handle(inbound(evaluation("2"), "m00")).kind == "promoted"
    rollback = RollbackRequested(request_id="rb-1", model="churn", requested_by="ana")
    assert w.handler.handle(inbound(rollback, "m1")).kind == "rolled_back"
    assert w.ledger.load("churn").state.cooldown_until is not None
    return w


def test_held_evaluation_is_promoted_by_the_tick_when_the_cooldown_ends():
    w = in_cooldown()
    held = w.handler.handle(inbound(evaluation("3"), "m3"))
    assert held.kind == "held" and "in cooldown" in held.reasons[0]
    assert w.ticker.tick() == {"held.holding": 1}  # still in cooldown: nothing changes
    w.now += timedelta(minutes=31)
    assert w.ticker.tick() == {"held.promoted": 1}
    state = w.ledger.load("churn").state
    assert state.candidate is not None and state.candidate.version == "3" and state.held is None
    assert w.ticker.tick() == {}


def test_newest_held_evaluation_is_the_one_promoted_when_several_were_held():
    w = in_cooldown()
    for version in ("4", "3"):  # out of order: the newest version is kept, not the latest event
        assert w.handler.handle(inbound(evaluation(version), f"m{version}")).kind == "held"
    assert w.ledger.load("churn").state.held.version == "4"
    w.now += timedelta(minutes=31)
    assert w.ticker.tick() == {"held.promoted": 1}
    assert w.ledger.load("churn").state.candidate.version == "4"
    assert w.ticker.tick() == {}
    assert w.ledger.load("churn").state.held is None


def test_twin_ticks_re_decide_a_held_evaluation_once():
    w = in_cooldown()
    w.handler.handle(inbound(evaluation("3"), "m3"))
    w.now += timedelta(minutes=31)
    twin = Ticker(w.handler, item_budget_s=0.0, chores=w.ticker.chores)
    assert w.ticker.tick() == {"held.promoted": 1}
    assert twin.tick() == {}
    promoted = [o for o in w.ledger.outcomes("churn") if o.kind == "promoted"]
    assert len(promoted) == 3  # v1, v2 at first, v3 once after the cooldown
