"""Core: outcome records are whole, bounded and always valid against their own schema."""

from __future__ import annotations

import pytest

from interlock import contract
from interlock.core.codec import encode
from interlock.core.decision import Decision
from interlock.core.errors import PermanentError
from interlock.core.events import PromoteRequested, outcome_type
from interlock.core.inbound import Inbound
from interlock.core.keys import decision_id
from interlock.core.outcome import dead_letter_outcome, outcome_of
from tests.builders import NOW, evaluated

HTML = (
    "<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1>\x1b[0m</body></html>"
)
REQUEST = PromoteRequested(request_id="r-1", model="churn", version="4", requested_by="ana")


def inbound(payload, ce_id: str = "e-1") -> Inbound:
    return Inbound(id=ce_id, type="dev.interlock.x.v1", source="s", time=NOW, payload=payload)


def test_outcome_of_carries_the_decision_and_request_fields_when_a_human_asked():
    decision = Decision("promoted", "churn", ("why",), manual=True)
    outcome = outcome_of(inbound(REQUEST), "request:r-1", decision, ("traffic x=100%",), NOW)
    assert outcome.decision_id == decision_id("request:r-1")
    assert (outcome.kind, outcome.subject, outcome.reasons, outcome.effects) == (
        "promoted", "churn", ("why",), ("traffic x=100%",),
    )  # fmt: skip
    assert (outcome.manual, outcome.request_id, outcome.requested_by) == (True, "r-1", "ana")


@pytest.mark.parametrize(
    "hostile",
    [HTML, "x" * 100_000, "line\nbreak\r\x00\x7f", "\ud800 lone surrogate"],
    ids=["html-page", "huge", "control-chars", "surrogate"],
)
def test_outcome_always_validates_against_its_schema_when_upstream_text_is_hostile(hostile):
    err = PermanentError("dag_id", f"Airflow answered HTTP 404: {hostile}")
    dead = dead_letter_outcome("k", err, NOW, event_id=hostile, event_type=hostile)
    contract.validate(outcome_type(dead.kind), encode(dead))
    assert "\n" not in dead.reasons[0] and len(dead.reasons[0]) <= 2048
    decided = outcome_of(
        inbound(evaluated()), "k", Decision("held", hostile, (hostile,)), (hostile,), NOW
    )
    contract.validate(outcome_type(decided.kind), encode(decided))


def test_dead_letter_outcome_reads_as_one_line_when_the_upstream_sent_an_html_page():
    err = PermanentError("dag_id", f"Airflow answered HTTP 404: {HTML}")
    dead = dead_letter_outcome("k", err, NOW, event_id="e", event_type="t")
    assert dead.reasons == ("dag_id: Airflow answered HTTP 404: 404 Not Found Not Found",)


def test_dead_letter_outcome_names_the_model_and_keeps_applied_effects_when_it_failed_midway():
    err = PermanentError("version", "gone")
    dead = dead_letter_outcome(
        "request:r-1", err, NOW, event_id="e-1", event_type="t", event=inbound(REQUEST),
        applied=("revision churn-v4 ready",),
    )  # fmt: skip
    assert (dead.kind, dead.subject, dead.effects) == (
        "dead_lettered", "churn", ("revision churn-v4 ready",),
    )  # fmt: skip
    assert (dead.request_id, dead.requested_by, dead.reasons) == ("r-1", "ana", ("version: gone",))
