"""The single decision entry: expiry, idempotency keys, dispatch per payload kind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.core.decide import decide, model_of
from interlock.core.decision import age_kind, expiry, human, idempotency_key
from interlock.core.errors import PermanentError
from interlock.core.events import (
    GCS_FINALIZED,
    DataLanded,
    Outcome,
    PromoteRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.inbound import Inbound
from interlock.core.state import ModelState
from tests.builders import NOW, evaluated, observed, policy, state

LANDED = DataLanded(bucket="landing", name="churn/a.csv", generation=3)


def inbound(payload, when=NOW, ce_id="id-1") -> Inbound:
    return Inbound(id=ce_id, type="t", source="src", time=when, payload=payload)


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (LANDED, "gcs:landing/churn/a.csv#3"),
        (TriggerRequested(request_id="r1", pipeline="p", object_uri="gs://b/o#1"), "request:r1"),
        (PromoteRequested(request_id="r2", model="churn", version="4"), "request:r2"),
        (RollbackRequested(request_id="r3", model="churn"), "request:r3"),
        (evaluated("4"), "evaluated:churn:4:run-4"),
        (observed(), "observed:churn:churn-v3:2026-11-25T11:30:00+00:00"),
        (None, "event:src:id-1"),
    ],
    ids=["landed", "trigger", "promote", "rollback", "evaluated", "observed", "ignored"],
)
def test_idempotency_key_ignores_message_id_when_payload_is_the_same(payload, key):
    assert idempotency_key(inbound(payload, ce_id="id-1")) == key
    if payload is not None:
        assert idempotency_key(inbound(payload, ce_id="id-2")) == key


@pytest.mark.parametrize(
    ("payload", "age", "expired"),
    [
        (observed(), None, False),
        (observed(minute=-40), None, True),
        (LANDED, timedelta(hours=23), False),
        (LANDED, timedelta(hours=25), True),
        (PromoteRequested(request_id="r", model="churn", version="4"), timedelta(minutes=61), True),
        (RollbackRequested(request_id="r", model="churn"), timedelta(days=30), False),
        (evaluated(evaluated_at=NOW - timedelta(days=2)), None, True),
    ],
    ids=[
        "fresh-window",
        "old-window",
        "fresh-landing",
        "old-landing",
        "old-request",
        "old-rollback-still-acts",
        "old-evaluation",
    ],
)
def test_expiry_applies_max_age_per_kind_except_rollbacks(payload, age, expired):
    event = inbound(payload, when=NOW - age if age else NOW)
    reason = expiry(event, policy(), NOW)
    assert (reason is not None) == expired
    if expired:
        assert reason is not None and "max_event_age." in reason


def test_expiry_uses_object_creation_time_when_event_has_no_time():
    old = DataLanded(
        bucket="landing", name="churn/a.csv", generation=3, time_created=NOW - timedelta(days=3)
    )
    assert expiry(inbound(old, when=None), policy(), NOW) is not None
    assert expiry(inbound(LANDED, when=None), policy(), NOW) is None


def test_age_kind_names_the_policy_setting_when_asked():
    assert [age_kind(inbound(p)) for p in (LANDED, evaluated(), observed(), RollbackRequested(request_id="r", model="churn"))] == [
        "data_landed", "model_evaluated", "model_observed", None
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (90, "1m30s"), (3600, "1h"), (3900, "1h05m"), (86400, "1d"), (7200, "2h")],
)
def test_human_durations_read_naturally(seconds, text):
    assert human(timedelta(seconds=seconds)) == text


def test_decide_dispatches_each_payload_to_its_decision():
    pol = policy()
    assert decide(inbound(LANDED), pol, ModelState(), NOW).kind == "triggered"
    assert decide(inbound(evaluated()), pol, state(), NOW).kind == "promoted"
    assert decide(inbound(observed()), pol, state(), NOW).kind == "held"
    assert (
        decide(
            inbound(PromoteRequested(request_id="r", model="churn", version="5")), pol, state(), NOW
        ).kind
        == "promoted"
    )
    assert (
        decide(inbound(RollbackRequested(request_id="r", model="churn")), pol, state(), NOW).kind
        == "rolled_back"
    )
    trig = TriggerRequested(
        request_id="r", pipeline="churn-training", object_uri="gs://landing/churn/a.csv#1"
    )
    assert decide(inbound(trig), pol, ModelState(), NOW).kind == "triggered"


def test_decide_records_expired_and_ignored_without_effects():
    ignored = Inbound(
        id="1", type=GCS_FINALIZED, source="s", time=NOW, payload=None, ignored="OBJECT_DELETE"
    )
    d = decide(ignored, policy(), ModelState(), NOW)
    assert (d.kind, d.reasons, d.effects) == ("ignored", ("OBJECT_DELETE",), ())
    old = decide(inbound(observed(minute=-60)), policy(), state(), NOW)
    assert old.kind == "expired" and old.subject == "churn" and old.effects == ()


def test_decide_refuses_unknown_model_and_outcome_payloads():
    with pytest.raises(PermanentError, match="unknown model"):
        decide(inbound(evaluated(model="other")), policy(), ModelState(), NOW)
    outcome = Outcome(
        decision_id="d",
        kind="held",
        subject="s",
        event_id="e",
        event_type="t",
        reasons=(),
        effects=(),
        decided_at=NOW,
    )
    with pytest.raises(PermanentError, match="does not act on"):
        decide(inbound(outcome), policy(), ModelState(), NOW)


def test_model_of_names_the_model_for_stateful_events_only():
    assert model_of(inbound(evaluated())) == "churn"
    assert model_of(inbound(LANDED)) is None


def test_decide_reports_an_invalid_request_as_invalid_even_when_it_is_old():
    old = TriggerRequested(
        request_id="r", pipeline="churn-training", object_uri="gs://other/churn/a.csv#1"
    )
    with pytest.raises(PermanentError, match="not pipeline churn-training's bucket"):
        decide(inbound(old, when=NOW - timedelta(days=9)), policy(), ModelState(), NOW)
