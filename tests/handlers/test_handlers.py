"""Handlers on fakes: assert what the world looks like afterwards, never that something was called."""

from __future__ import annotations

import dataclasses

import pytest

from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import DataLanded, PromoteRequested, RollbackRequested
from interlock.ports import Conflict
from tests.fakes.ledger import FakeLedger
from tests.handlers.world import SERVICE, World, evaluation, inbound, window


def test_landing_starts_one_dag_run_and_records_it_when_delivered_twice():
    w = World()
    landed = DataLanded(bucket="landing", name="churn/a.csv", generation=7)
    first = w.handler.handle(inbound(landed, "m1"))
    again = w.handler.handle(inbound(landed, "m2"))
    assert first.kind == "triggered" and again == first
    assert len(w.dags.runs) == 1
    (run,) = w.dags.runs.values()
    assert run.conf["object"] == "gs://landing/churn/a.csv#7"
    assert w.ledger.outcomes()[0].kind == "triggered"
    assert w.bus.types("decisions") == ["dev.interlock.pipeline.triggered.v1"] * 2


def test_whole_lifecycle_promotes_canaries_completes_and_rolls_back():
    w = World()
    assert w.handler.handle(inbound(evaluation("1"))).kind == "promoted"
    assert w.traffic() == {"churn-v1": 100}
    assert w.aliases()["champion"] == "1"

    assert w.handler.handle(inbound(evaluation("2"))).kind == "promoted"
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    assert w.aliases()["candidate"] == "2"

    kinds = [w.handler.handle(inbound(window("2", m))).kind for m in range(1, 5)]
    assert kinds == ["held", "advanced", "held", "promoted"]
    assert w.traffic() == {"churn-v2": 100}
    assert (w.aliases()["champion"], w.aliases()["previous"]) == ("2", "1")
    assert "candidate" not in w.aliases()

    kinds = [w.handler.handle(inbound(window("2", m, error_rate=0.5))).kind for m in range(5, 8)]
    assert kinds == ["held", "held", "rolled_back"]
    assert w.traffic() == {"churn-v1": 100}
    assert w.aliases()["champion"] == "1"
    state = w.ledger.load("churn").state
    assert state.champion is not None and state.champion.version == "1"
    assert "2" in state.rejected_versions


def test_transient_failure_parks_the_event_and_a_redelivery_applies_once():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    w.router.fail_next(TransientError("503 from Cloud Run"))
    assert w.handler.handle(inbound(evaluation("2"))).kind == "pending"
    assert w.ledger.get("evaluated:churn:2:run-2") is None
    assert w.ledger.load("churn").state.candidate is None
    outcome = w.handler.handle(inbound(evaluation("2")))
    assert outcome.kind == "promoted"
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}


def test_unknown_model_is_dead_lettered_once_when_redelivered():
    w = World()
    bad = dataclasses.replace(evaluation("1"), model="nope")
    first = w.handler.handle(inbound(bad))
    again = w.handler.handle(inbound(bad))
    assert first.kind == again.kind == "dead_lettered"
    assert "unknown model 'nope'" in first.reasons[0]
    assert len(w.bus.topics["dead-letter"]) == 1
    assert w.bus.topics["dead-letter"][0].attributes["interlock-field"] == "model"


def test_busy_model_retries_instead_of_acting_concurrently():
    w = World()
    assert w.ledger.acquire("churn", "someone-else", 60, w.now)
    with pytest.raises(TransientError, match="busy"):
        w.handler.handle(inbound(evaluation("1")))
    assert w.traffic() == {"churn-00001-boot": 100}


def test_refused_registry_call_dead_letters_the_request_with_its_request_id():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    w.registry.fail_next(PermanentError("alias", "PERMISSION_DENIED"), times=3)
    outcome = w.handler.handle(
        inbound(PromoteRequested(request_id="r1", model="churn", version="2"))
    )
    assert outcome.kind == "dead_lettered"
    assert outcome.request_id == "r1"
    assert "PERMISSION_DENIED" in outcome.reasons[0]


def test_manual_rollback_is_recognised_when_republished_with_the_same_request_id():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    w.handler.handle(inbound(evaluation("2")))
    rollback = RollbackRequested(request_id="rb-1", model="churn", requested_by="ana")
    first = w.handler.handle(inbound(rollback, "m1"))
    again = w.handler.handle(inbound(rollback, "m2"))
    assert first.kind == "rolled_back" and first.manual and first.requested_by == "ana"
    assert again.decision_id == first.decision_id
    assert w.traffic() == {"churn-v1": 100}
    assert [o.kind for o in w.ledger.outcomes("churn")].count("rolled_back") == 1


def test_missing_registry_version_is_permanent_and_traffic_unchanged():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    outcome = w.handler.handle(inbound(evaluation("9")))
    assert outcome.kind == "dead_lettered"
    assert w.traffic() == {"churn-v1": 100}
    assert "churn-v9" not in w.router.services[SERVICE].revisions  # nothing deployed for it


def test_second_notification_of_the_same_generation_reuses_the_run_when_only_provenance_differs():
    w = World()
    landed = DataLanded(bucket="landing", name="churn/b.csv", generation=9)
    w.handler.handle(inbound(landed, "notification-1"))
    fresh = World(dags=w.dags)  # same Airflow, a ledger that never saw the first decision
    outcome = fresh.handler.handle(inbound(landed, "notification-2"))
    assert outcome.kind == "triggered" and "already existed" in outcome.effects[0]
    assert len(w.dags.runs) == 1


def test_short_outage_is_retried_in_process_and_applied_once():
    w = World(retry_budget_s=10)
    w.handler.handle(inbound(evaluation("1")))
    w.router.fail_next(TransientError("Cloud Run 503", retry_after_s=0.1), times=2)
    outcome = w.handler.handle(inbound(evaluation("2")))
    assert outcome.kind == "promoted"
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}


def test_outage_longer_than_the_budget_parks_the_event_instead_of_waiting_for_pubsub():
    w = World(retry_budget_s=0.3)
    w.dags.unavailable = True
    landed = DataLanded(bucket="landing", name="churn/c.csv", generation=1)
    assert w.handler.handle(inbound(landed)).kind == "pending"
    assert w.ledger.outcomes() == []  # nothing final yet
    assert [p.key for p in w.ledger.parked()] == ["gcs:landing/churn/c.csv#1"]


class _LateLedger(FakeLedger):
    """Answers the first "seen before?" of a key as unseen: a delivery that passed the check
    just before its twin committed, and then waited for the lease its twin held."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str):
        if key not in self.asked:
            self.asked.add(key)
            return None
        return super().get(key)


def test_delivery_that_waited_for_the_lease_returns_the_decision_its_twin_made():
    w = World(ledger=_LateLedger())
    first = w.handler.handle(inbound(evaluation("1"), "m1"))
    w.ledger.asked.clear()
    outcome = w.handler.handle(inbound(evaluation("1"), "m2"))
    assert outcome == first
    assert [o.kind for o in w.ledger.outcomes()] == ["promoted"]


class _StickyLeaseLedger(FakeLedger):
    """Loses every race to release its lease (Firestore does, under contention)."""

    def release(self, subject: str, holder: str) -> None:
        raise Conflict(f"lease {subject!r}: lost 5 races in a row")


def test_decided_event_is_acked_when_its_lease_cannot_be_released():
    w = World(ledger=_StickyLeaseLedger())
    outcome = w.handler.handle(inbound(evaluation("1")))
    # Committed and published: the lease simply expires by its TTL.
    assert outcome.kind == "promoted"
    assert w.ledger.get("evaluated:churn:1:run-1") == outcome
    assert w.traffic() == {"churn-v1": 100}
