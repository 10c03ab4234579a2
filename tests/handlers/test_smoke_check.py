"""The pre-traffic smoke check on fakes: a candidate's revision is tagged at 0 %, called at its
tag URL with the policy's sample request, and only then given the first canary step — or
rejected with what it answered, traffic unchanged, never promoted again automatically."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from interlock.apply import PartialFailure
from interlock.core import moves
from interlock.core.events import (
    PauseRequested,
    PromoteRequested,
    ResumeRequested,
    RollbackRequested,
)
from tests.fakes.traffic import service_url
from tests.handlers.world import SERVICE, World, evaluation, inbound

SAMPLE = {"instances": [[0.1, 0.2]]}
TAG_URL = service_url(SERVICE, "smoke")


def _world() -> World:
    w = World(smoke={"request": SAMPLE, "timeout": "5s"})
    assert w.handler.handle(inbound(evaluation("1"), "e1")).kind == "promoted"
    return w


def _served(w: World) -> list[tuple[str, int, str | None]]:
    return [(s.revision, s.percent, s.tag) for s in w.router.get_traffic(SERVICE)]


def test_candidate_gets_its_first_canary_step_when_its_smoke_check_passes():
    w = _world()
    done = w.handler.handle(inbound(evaluation("2"), "e2"))
    assert done.kind == "promoted"
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    assert len(w.probe.requests) == 2  # v1 when it was first promoted, then v2
    probed = w.probe.requests[-1]
    assert probed.url == TAG_URL + "/predict" and probed.body == SAMPLE
    assert probed.audience == service_url(SERVICE) and probed.timeout_s == 5
    assert any(e.startswith("smoke check of churn-v2 passed") for e in done.effects)
    assert w.aliases()["candidate"] == "2"


def test_candidate_is_rejected_with_the_answer_and_traffic_unchanged_when_its_smoke_check_fails():
    w = _world()
    before = _served(w)
    w.probe.answer(
        TAG_URL, 503, '{"error": {"message": "revision churn-v2 cannot load its model"}}'
    )
    done = w.handler.handle(inbound(evaluation("2"), "e2"))
    assert done.kind == "rejected"
    assert any(
        "answered 503 (expected 200)" in r and "cannot load its model" in r for r in done.reasons
    )
    assert any("traffic unchanged" in r for r in done.reasons)
    # The percents and every other tag as they were; the revision stays at 0 % under `smoke`.
    assert _served(w) == [*before, ("churn-v2", 0, "smoke")]
    assert "candidate" not in w.aliases() and w.aliases()["champion"] == "1"
    state = w.ledger.load("churn").state
    assert state.candidate is None and state.rejected_versions == ("2",)
    assert w.bus.types("decisions")[-1] == "dev.interlock.model.rejected.v1"


def test_rejected_candidate_is_not_probed_again_when_its_evaluation_is_redelivered_or_repeated():
    w = _world()
    w.probe.answer(TAG_URL, 500, "boom")
    first = w.handler.handle(inbound(evaluation("2"), "e2"))
    probes = len(w.probe.requests)
    w.probe.answers.clear()  # the revision would pass now: a redelivery must still not promote
    assert w.handler.handle(inbound(evaluation("2"), "e2-redelivered")) == first
    rerun = dataclasses.replace(evaluation("2"), run_id="run-2b")  # another evaluation of v2
    again = w.handler.handle(inbound(rerun, "e2b"))
    assert again.kind == "rejected" and "failed its smoke check before" in again.reasons[0]
    assert len(w.probe.requests) == probes and w.traffic() == {"churn-v1": 100}


def test_manual_promote_checks_again_and_promotes_when_the_revision_now_answers():
    w = _world()
    w.probe.answer(TAG_URL, 500, "boom")
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "rejected"
    w.probe.answers.clear()
    promote = PromoteRequested(request_id="req-1", model="churn", version="2", requested_by="ana")
    assert w.handler.handle(inbound(promote, "r1")).kind == "promoted"
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    assert w.ledger.load("churn").state.rejected_versions == ()


def test_unreachable_tag_url_parks_the_evaluation_instead_of_rejecting_it():
    w = _world()
    w.probe.unreachable.add(TAG_URL)
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "pending"
    assert w.traffic() == {"churn-v1": 100}
    assert w.ledger.load("churn").state.rejected_versions == ()


def test_first_version_is_rejected_and_nothing_serves_it_when_its_smoke_check_fails():
    w = World(smoke={"request": SAMPLE})
    w.probe.answer(TAG_URL, 404, "Not Found")
    done = w.handler.handle(inbound(evaluation("1"), "e1"))
    assert done.kind == "rejected"
    assert w.traffic() == {"churn-00001-boot": 100}
    assert w.ledger.load("churn").state.champion is None


def test_held_promotion_released_by_the_tick_is_rejected_when_its_smoke_check_fails():
    w = _world()
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "promoted"
    rollback = RollbackRequested(request_id="rb-1", model="churn", requested_by="ana")
    assert w.handler.handle(inbound(rollback, "r1")).kind == "rolled_back"
    assert w.handler.handle(inbound(evaluation("3"), "e3")).kind == "held"  # in cooldown
    w.probe.answer(TAG_URL, 502, "<html><body>Bad Gateway</body></html>")
    w.now += timedelta(minutes=31)
    assert w.ticker.tick() == {"held.rejected": 1}
    (released,) = [o for o in w.ledger.outcomes() if o.event_id.startswith("released:")]
    assert released.reasons[0].startswith("hold ended: re-deciding the held evaluation of v3")
    assert any("answered 502 (expected 200): Bad Gateway" in r for r in released.reasons)
    assert w.traffic() == {"churn-v1": 100}
    state = w.ledger.load("churn").state
    assert state.held is None and "3" in state.rejected_versions
    assert w.ticker.tick() == {}


def test_evaluation_held_by_a_pause_is_rejected_on_resume_when_its_smoke_check_fails():
    w = _world()
    pause = PauseRequested(request_id="p-1", model="churn", requested_by="ana", reason="incident")
    assert w.handler.handle(inbound(pause, "p1")).kind == "paused"
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "held"
    w.probe.answer(TAG_URL, 500, "boom")
    resume = ResumeRequested(request_id="r-1", model="churn", requested_by="ana", reason="over")
    done = w.handler.handle(inbound(resume, "r1"))
    assert done.kind == "rejected" and done.reasons[0].startswith("resumed by ana")
    state = w.ledger.load("churn").state
    assert not state.paused and state.held is None and state.rejected_versions == ("2",)
    assert w.traffic() == {"churn-v1": 100}


def test_failed_smoke_is_a_partial_failure_when_a_move_lost_its_rejection():
    w = _world()
    decision = moves.start(w.ledger.load("churn").state, w.handler.policy.model("churn"), "2",
                           None, w.now, ())  # fmt: skip
    w.probe.answer(TAG_URL, 500, "boom")
    with pytest.raises(PartialFailure) as info:
        w.handler.applier.carry_out(dataclasses.replace(decision, on_smoke_failure=None))
    assert info.value.applied[0].startswith("revision churn-v2 ready")
    assert w.traffic() == {"churn-v1": 100}
