"""Core: the table of event kinds agrees with the entry points, the topics and the policy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from interlock import topics
from interlock.core.events import PREFIX, PromoteRequested, RollbackRequested, TriggerRequested
from interlock.core.kinds import AGE_KINDS, KINDS, accepted_by, model_of, request_fields
from tests.builders import POLICY_DOC, evaluated, observed

MAIN = Path(__file__).resolve().parents[2] / "functions" / "main.py"
ENTRY_POINTS = {
    node.name for node in ast.parse(MAIN.read_text()).body if isinstance(node, ast.FunctionDef)
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.payload.__name__)
def test_each_kind_is_accepted_by_a_deployed_function_fed_by_a_topic(kind):
    assert kind.function in ENTRY_POINTS
    assert kind.payload in accepted_by(kind.function)
    assert kind.function in topics.SUBSCRIBERS.values()
    if kind.own:
        assert kind.ce_type.startswith(PREFIX)
        assert topics.SUBSCRIBERS[topics.topic_for(kind.ce_type)] == kind.function


def test_each_kind_has_one_type_and_one_payload_class_when_listed():
    assert len({k.ce_type for k in KINDS}) == len({k.payload for k in KINDS}) == len(KINDS)


def test_age_kinds_are_what_the_policy_may_bound_when_read():
    assert set(POLICY_DOC["max_event_age"]) <= set(AGE_KINDS)
    assert "request" in AGE_KINDS and None not in AGE_KINDS


REQUESTS = [
    TriggerRequested(request_id="r1", pipeline="p", object_uri="gs://b/o#1", requested_by="ana"),
    PromoteRequested(request_id="r2", model="churn", version="4"),
    RollbackRequested(request_id="r3", model="churn", requested_by="bo"),
]


@pytest.mark.parametrize(
    ("payload", "model", "fields"),
    [
        (evaluated(), "churn", (None, None)),
        (observed(), "churn", (None, None)),
        (REQUESTS[0], None, ("r1", "ana")),
        (REQUESTS[1], "churn", ("r2", None)),
        (REQUESTS[2], "churn", ("r3", "bo")),
        (None, None, (None, None)),
    ],
    ids=["evaluated", "observed", "trigger", "promote", "rollback", "none"],
)
def test_model_and_request_fields_come_from_the_row_when_asked(payload, model, fields):
    assert model_of(payload) == model
    assert request_fields(payload) == fields
