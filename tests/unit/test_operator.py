"""Operator decisions, pure: approval steps, pause/resume, freeze windows, the policy for them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from interlock.core import guard, holds, operator
from interlock.core.errors import PermanentError
from interlock.core.events import ApproveRequested, PauseRequested, ResumeRequested
from interlock.core.freeze import active_until, frozen
from interlock.core.policy import PolicyError
from tests.builders import NOW, evaluated, observed, policy, state

GATED = {"steps": [10, 50, "approve", 100]}


def _mp(**overrides):
    return policy(**overrides).model("churn")


def _approve(version="4", by="ana"):
    return ApproveRequested(request_id="r1", model="churn", version=version, requested_by=by)


def test_policy_reads_approve_steps_as_the_step_a_human_must_approve_first():
    canary = _mp(canary={**GATED, "approval_timeout": "1h", "on_approval_timeout": "abort"}).canary
    assert canary.steps == (10, 50, 100) and canary.approve_before == (2,)
    assert canary.approval_timeout_s == 3600 and canary.on_approval_timeout == "abort"


@pytest.mark.parametrize(
    "canary, expected",
    [
        ({"steps": ["approve", 10, 100]}, "`approve` goes between two traffic steps"),
        ({"steps": [10, "approve", "approve", 100]}, "`approve` goes between two traffic steps"),
        ({"steps": [10, 100, "approve"]}, "`approve` goes between two traffic steps"),
        ({"approval_timeout": "1h"}, "no step needs approval"),
        ({**GATED, "on_approval_timeout": "later"}, 'expected "hold" or "abort"'),
    ],
)
def test_policy_refuses_approval_settings_when_they_make_no_sense(canary, expected):
    with pytest.raises(PolicyError) as err:
        policy(canary=canary)
    assert expected in str(err.value)


@pytest.mark.parametrize(
    "guard_doc, expected",
    [
        ({"after_window": "panic"}, "guard.after_window"),
        ({"while_paused": "x"}, "guard.while_paused"),
    ],
)
def test_policy_refuses_unknown_guard_choices_when_misspelt(guard_doc, expected):
    with pytest.raises(PolicyError) as err:
        policy(guard=guard_doc)
    assert expected in str(err.value)


@pytest.mark.parametrize(
    "window, expected",
    [
        ({"time_zone": "Mars/Olympus", "start": "2026-01-01T00:00", "end": "2026-01-02T00:00"}, "IANA time zone"),
        ({"time_zone": "UTC", "days": ["funday"], "start": "10:00", "end": "11:00"}, "expected days among"),
        ({"time_zone": "UTC", "days": ["mon"], "start": 600, "end": "11:00"}, "quoted local time"),
        ({"time_zone": "UTC", "start": "soon", "end": "2026-01-02T00:00"}, "expected a date-time"),
        ({"time_zone": "UTC", "start": "2026-01-02T00:00", "end": "2026-01-01T00:00"}, "must be after start"),
        ({"time_zone": "UTC", "when": "always"}, "unknown key"),
        ("weekends", "expected a mapping"),
    ],
)  # fmt: skip
def test_policy_refuses_freeze_windows_when_malformed(window, expected):
    with pytest.raises(PolicyError) as err:
        policy(freeze=[window])
    assert expected in str(err.value)


def test_policy_refuses_freeze_when_not_a_list():
    with pytest.raises(PolicyError, match="expected a list of windows"):
        policy(freeze={"time_zone": "UTC"})


def test_weekly_freeze_crossing_midnight_is_on_the_next_morning_in_its_time_zone():
    mp = _mp(freeze=[{"name": "nights", "time_zone": "America/New_York", "days": ["tue"],
                      "start": "22:00", "end": "06:00"}])  # fmt: skip
    (w,) = mp.freeze
    wed_2am_ny = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    assert active_until(w, wed_2am_ny) == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert active_until(w, wed_2am_ny + timedelta(hours=5)) is None
    assert frozen(mp, wed_2am_ny)[0].startswith("freeze window nights until 2026-11-25 06:00 EST")


def test_one_off_freeze_with_its_own_offset_keeps_it():
    mp = _mp(freeze=[{"time_zone": "UTC", "start": "2026-11-25T13:00+02:00",
                      "end": "2026-11-25T15:00+02:00"}])  # fmt: skip
    assert frozen(mp, NOW) is not None
    assert frozen(mp, NOW + timedelta(hours=1)) is None


def test_top_level_freeze_applies_to_every_model():
    from interlock.core.policy_load import load_policy
    from tests.builders import POLICY_DOC

    doc = {**POLICY_DOC, "freeze": [{"time_zone": "UTC", "start": datetime(2026, 11, 25, 11, 0),
                                     "end": datetime(2026, 11, 25, 13, 0)}]}  # fmt: skip
    assert frozen(load_policy(doc).model("churn"), NOW) is not None


def _waiting(**changes):
    s = state(candidate="4", step=1, healthy=2)
    return s.replace(candidate=s.candidate.__class__(**{**s.candidate.__dict__, **changes}))


def test_approve_advances_when_the_candidate_awaits_approval():
    d = operator.approve(_approve(), _waiting(awaiting_since=NOW), _mp(canary=GATED), NOW)
    assert d.kind == "promoted" and d.manual and d.reasons[0] == "approved by ana"


@pytest.mark.parametrize(
    "st, version, expected",
    [
        (state(), "4", "v4 is not in canary (no canary in progress)"),
        (state(candidate="5"), "4", "v4 is not in canary (candidate v5)"),
        (state(candidate="4", step=1, healthy=1), "4", "v4 is not awaiting approval (at 50 %, 1 of 2"),
    ],
)  # fmt: skip
def test_approve_is_stale_when_nothing_waits_for_it(st, version, expected):
    d = operator.approve(_approve(version), st, _mp(canary=GATED), NOW)
    assert d.kind == "stale" and d.reasons[0].startswith(expected)


def test_guard_holds_once_then_needs_a_human_when_the_approval_times_out_and_policy_holds():
    mp = _mp(canary={**GATED, "approval_timeout": "10m"})
    st = _waiting(awaiting_since=NOW - timedelta(minutes=5), healthy_windows=1)
    assert guard.guard(observed("churn-v4", minute=1), st, mp, NOW).kind == "held"
    late = NOW + timedelta(minutes=6)
    d = guard.guard(observed("churn-v4", minute=1), st, mp, late)
    assert d.kind == "needs_human" and d.state.candidate.approval_timed_out
    again = guard.guard(observed("churn-v4", minute=2), d.state, mp, late)
    assert again.kind == "held" and "awaiting approval to go to 100 %" in again.reasons[-1]


def test_pause_then_resume_with_nothing_held_records_both():
    mp = _mp()
    pause = PauseRequested(request_id="p", model="churn", requested_by="ana", reason="incident")
    d = operator.pause(pause, state(), mp, NOW)
    assert d.kind == "paused" and d.state.paused_by == "ana"
    assert "automatic rollbacks still happen" in d.reasons
    assert operator.pause(pause, d.state, mp, NOW).kind == "stale"
    r = operator.resume(ResumeRequested(request_id="q", model="churn"), d.state, mp, NOW)
    assert r.kind == "resumed" and not r.state.paused
    assert (
        operator.resume(ResumeRequested(request_id="q", model="churn"), r.state, mp, NOW).kind
        == "stale"
    )


def test_pause_says_rollbacks_hold_too_when_the_policy_holds_them():
    mp = _mp(guard={"while_paused": "hold"})
    d = operator.pause(PauseRequested(request_id="p", model="churn"), state(), mp, NOW)
    assert "automatic rollbacks hold too (guard.while_paused: hold)" in d.reasons


def test_resume_during_a_freeze_keeps_the_evaluation_held():
    mp = _mp(freeze=[{"time_zone": "UTC", "start": "2026-11-25T11:00", "end": "2026-11-25T13:00"}])
    st = state().replace(
        paused=True, paused_reason="paused by ana", paused_by="ana", held=evaluated("4")
    )
    r = operator.resume(ResumeRequested(request_id="q", model="churn"), st, mp, NOW)
    assert r.kind == "resumed" and r.state.held is not None and not r.state.paused


def test_paused_guard_holds_a_champion_breach_when_the_policy_holds_rollbacks():
    mp = _mp(guard={"while_paused": "hold", "breaches": 1})
    st = state().replace(paused=True, paused_reason="paused by ana", paused_by="ana")
    d = guard.guard(observed("churn-v3", error_rate=0.5), st, mp, NOW)
    assert d.kind == "held" and "no automatic rollback (guard.while_paused: hold)" in d.reasons[-1]


def test_champion_breach_after_the_guard_window_rolls_back_when_the_policy_says_rollback():
    mp = _mp(guard={"after_window": "rollback", "breaches": 1})
    st = state(guard_until=NOW - timedelta(minutes=1))
    assert guard.guard(observed("churn-v3", error_rate=0.5), st, mp, NOW).kind == "rolled_back"
    default = _mp(guard={"breaches": 1})
    assert guard.guard(observed("churn-v3", error_rate=0.5), st, default, NOW).kind == "needs_human"


def test_keep_held_keeps_the_newest_evaluation():
    st = holds.keep_held(state(), evaluated("5"))
    assert holds.keep_held(st, evaluated("4")).held.version == "5"


def test_release_waits_while_a_cooldown_or_pause_holds_and_none_when_nothing_is_held():
    mp = _mp()
    assert holds.release(state(), mp, NOW) is None
    cooling = state(cooldown_until=NOW + timedelta(minutes=1), held=evaluated("4"))
    assert holds.release(cooling, mp, NOW) is None
    assert holds.release(cooling.replace(paused=True), mp, NOW + timedelta(hours=1)) is None
    done = holds.release(cooling, mp, NOW + timedelta(minutes=2))
    assert done.kind == "promoted" and done.state.held is None


def _replay(event: str, model: str | None = "churn"):
    from interlock.core.events import ReplayRequested

    return ReplayRequested(request_id="r", replay_of="ev-1", event=event, model=model)


@pytest.mark.parametrize(
    "event, model, expected",
    [
        ("{not json", "churn", "event: not JSON"),
        (json.dumps({"specversion": "1.0", "type": "dev.interlock.tick.v1", "source": "s", "id": "1",
                     "data": {}}), "churn", "model: the replayed event is about no model, the request says churn"),
        (json.dumps({"specversion": "1.0", "type": "dev.interlock.event.replay.requested.v1", "source": "s",
                     "id": "1", "data": {"request_id": "x", "replay_of": "y", "event": "{}"}}), None,
         "cannot replay another replay request"),
    ],
)  # fmt: skip
def test_replay_is_refused_when_the_event_cannot_be_re_run(event, model, expected):
    from interlock.core.dispatch import decide
    from interlock.core.inbound import Inbound

    req = Inbound(id="i", type="t", source="s", time=NOW, payload=_replay(event, model))
    with pytest.raises(PermanentError, match=expected):
        decide(req, policy(), state(), NOW)


def test_approval_timeout_is_due_only_once_past_the_wait_when_the_tick_looks():
    mp = _mp(canary={**GATED, "approval_timeout": "10m"})
    st = _waiting(awaiting_since=NOW)
    assert holds.approval_timeout(st, mp, NOW + timedelta(minutes=5)) is None
    assert holds.approval_timeout(state(), mp, NOW) is None
    due = holds.approval_timeout(st, mp, NOW + timedelta(minutes=11))
    assert due.kind == "needs_human" and due.reasons[0] == "the tick checked the approval wait"
    assert holds.approval_timeout(due.state, mp, NOW + timedelta(minutes=12)) is None


def test_awaiting_is_none_when_the_next_step_needs_no_approval():
    assert holds.awaiting(state(candidate="4", step=0), _mp(canary=GATED), NOW, ()) is None
