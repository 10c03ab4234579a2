"""Core: how old an event is, and the policy's max age per kind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.core.events import DataLanded, PromoteRequested, RollbackRequested
from interlock.core.expiry import age_kind, expiry, human
from interlock.core.inbound import Inbound
from tests.builders import NOW, evaluated, observed, policy

LANDED = DataLanded(bucket="landing", name="churn/a.csv", generation=3)


def inbound(payload, when=NOW, ce_id="id-1") -> Inbound:
    return Inbound(id=ce_id, type="t", source="src", time=when, payload=payload)


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
