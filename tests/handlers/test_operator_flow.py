"""Operators in control, on fakes: approval-gated canaries, pause/resume, freeze windows —
asserting the ledger and the traffic afterwards."""

from __future__ import annotations

from datetime import timedelta

from interlock.core.events import ApproveRequested, PauseRequested, ResumeRequested
from tests.builders import policy
from tests.handlers.world import World, evaluation, inbound, window

GATED = {"steps": [10, 50, "approve", 100], "hold_windows": 2, "min_samples": 10}


def _world(**overrides) -> World:
    w = World()
    w.handler.policy = policy(**overrides)
    return w


def _handle(w: World, payload, ce_id: str):
    return w.handler.handle(inbound(payload, ce_id))


def test_approval_gated_canary_waits_is_approved_then_completes_when_a_human_approves():
    w = _world(canary=GATED)
    _handle(w, evaluation("1"), "e1")
    _handle(w, evaluation("2"), "e2")
    kinds = [_handle(w, window("2", m), f"w{m}").kind for m in range(1, 6)]
    assert kinds == ["held", "advanced", "held", "awaiting_approval", "held"]
    assert w.traffic() == {"churn-v1": 50, "churn-v2": 50}
    assert "dev.interlock.decision.recorded.v1" in w.bus.types("decisions")
    approve = ApproveRequested(request_id="req-a1", model="churn", version="2",
                               requested_by="ana", reason="dashboards look fine")  # fmt: skip
    done = _handle(w, approve, "r1")
    assert done.kind == "promoted" and done.manual and done.requested_by == "ana"
    assert "approved by ana: dashboards look fine" in done.reasons
    assert w.traffic() == {"churn-v2": 100}
    # A re-publish of the same request is recognised: the same record, nothing applied again.
    assert _handle(w, approve, "r1-again") == done
    assert w.ledger.load("churn").state.champion.version == "2"


def test_breach_while_awaiting_approval_still_aborts_the_canary():
    w = _world(canary=GATED, guard={"breaches": 1})
    _handle(w, evaluation("1"), "e1")
    _handle(w, evaluation("2"), "e2")
    for m in range(1, 5):
        _handle(w, window("2", m), f"w{m}")
    assert w.ledger.load("churn").state.candidate.awaiting_since is not None
    assert _handle(w, window("2", 5, error_rate=0.5), "w5").kind == "rolled_back"
    assert w.traffic() == {"churn-v1": 100}


def test_approval_timeout_aborts_when_the_policy_says_abort():
    w = _world(canary={**GATED, "approval_timeout": "10m", "on_approval_timeout": "abort"})
    _handle(w, evaluation("1"), "e1")
    _handle(w, evaluation("2"), "e2")
    for m in range(1, 5):
        _handle(w, window("2", m), f"w{m}")
    w.now += timedelta(minutes=11)
    out = _handle(w, window("2", 5), "w5")
    assert out.kind == "rolled_back" and any("approval_timeout" in r for r in out.reasons)
    assert w.traffic() == {"churn-v1": 100}


def test_paused_model_holds_a_passing_evaluation_and_resume_promotes_it():
    w = World()
    _handle(w, evaluation("1"), "e1")
    paused = _handle(w, PauseRequested(request_id="req-p1", model="churn", requested_by="ana",
                                       reason="incident 42"), "p1")  # fmt: skip
    assert paused.kind == "paused" and paused.manual
    assert _handle(w, evaluation("2"), "e2").kind == "held"
    assert w.traffic() == {"churn-v1": 100}
    resumed = _handle(
        w, ResumeRequested(request_id="req-p2", model="churn", requested_by="ana"), "p2"
    )
    assert resumed.kind == "promoted" and resumed.manual
    assert any("re-deciding the evaluation the pause held: v2" in r for r in resumed.reasons)
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    state = w.ledger.load("churn").state
    assert not state.paused and state.held is None


def test_paused_model_holds_an_advance_but_still_rolls_back_a_breaching_canary():
    w = _world(guard={"breaches": 1})
    _handle(w, evaluation("1"), "e1")
    _handle(w, evaluation("2"), "e2")
    _handle(w, PauseRequested(request_id="req-p1", model="churn", requested_by="ana"), "p1")
    out = [_handle(w, window("2", m), f"w{m}") for m in (1, 2)]
    assert [o.kind for o in out] == ["held", "held"]
    assert "advance to 50 % held: paused (paused by ana)" in out[1].reasons
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    assert _handle(w, window("2", 3, error_rate=0.5), "w3").kind == "rolled_back"
    assert w.traffic() == {"churn-v1": 100}


def test_freeze_window_holds_an_automatic_promotion_when_it_is_on():
    # NOW is Wednesday 2026-11-25 12:00 UTC = 13:00 in Paris.
    weekly = {"name": "midweek", "time_zone": "Europe/Paris", "days": ["wed"],
              "start": "12:30", "end": "14:00"}  # fmt: skip
    w = _world(freeze=[weekly])
    _handle(w, evaluation("1"), "e1")
    out = _handle(w, evaluation("2"), "e2")
    assert (
        out.kind == "held" and "freeze window midweek until 2026-11-25 14:00 CET" in out.reasons[0]
    )
    assert w.ledger.load("churn").state.held.version == "2"


def test_tick_promotes_a_held_evaluation_once_when_its_freeze_window_has_ended():
    one_off = {"name": "release-freeze", "time_zone": "UTC",
               "start": "2026-11-25T11:00", "end": "2026-11-25T12:30"}  # fmt: skip
    w = _world(freeze=[one_off])
    _handle(w, evaluation("1"), "e1")
    assert w.traffic() == {"churn-00001-boot": 100}
    assert w.ticker.tick()["held.holding"] == 1
    w.now += timedelta(minutes=31)
    assert w.ticker.tick()["held.promoted"] == 1
    assert w.traffic() == {"churn-v1": 100}
    assert "held.promoted" not in w.ticker.tick()
    (released,) = [o for o in w.ledger.outcomes() if o.kind == "promoted"]
    assert released.reasons[0].startswith("hold ended: re-deciding the held evaluation of v1")


def test_tick_aborts_a_canary_whose_approval_wait_timed_out_when_no_window_comes():
    w = _world(canary={**GATED, "approval_timeout": "10m", "on_approval_timeout": "abort"})
    _handle(w, evaluation("1"), "e1")
    _handle(w, evaluation("2"), "e2")
    for m in range(1, 5):
        _handle(w, window("2", m), f"w{m}")
    assert "held.rolled_back" not in w.ticker.tick()
    w.now += timedelta(minutes=11)
    assert w.ticker.tick()["held.rolled_back"] == 1
    assert w.traffic() == {"churn-v1": 100}
    assert "held.rolled_back" not in w.ticker.tick()
