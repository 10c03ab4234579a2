"""Core: the keys interlock records under."""

from __future__ import annotations

import pytest

from interlock.core.events import DataLanded, PromoteRequested, RollbackRequested, TriggerRequested
from interlock.core.inbound import Inbound
from interlock.core.keys import decision_id, idempotency_key, invalid_key, payload_key
from tests.builders import NOW, evaluated, observed

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


def test_payload_key_is_the_idempotency_key_when_any_delivery_carries_the_payload():
    assert payload_key(LANDED) == idempotency_key(inbound(LANDED, ce_id="other"))


def test_invalid_key_is_bounded_when_the_delivery_sends_huge_attributes():
    key = invalid_key("s" * 5000, "i" * 5000)
    assert key.startswith("invalid:s") and len(key) == len("invalid:") + 256 + 1 + 256


def test_decision_id_is_deterministic_and_distinct_when_keys_differ():
    assert decision_id("a") == decision_id("a") != decision_id("b")
    assert decision_id("a").startswith("d-") and len(decision_id("a")) == 26
