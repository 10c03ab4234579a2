"""Core: the single decision entry — expiry first, then the decision of each payload kind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.core.dispatch import decide
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


def test_decide_reports_an_invalid_request_as_invalid_even_when_it_is_old():
    old = TriggerRequested(
        request_id="r", pipeline="churn-training", object_uri="gs://other/churn/a.csv#1"
    )
    with pytest.raises(PermanentError, match="not pipeline churn-training's bucket"):
        decide(inbound(old, when=NOW - timedelta(days=9)), policy(), ModelState(), NOW)
