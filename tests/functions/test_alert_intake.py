"""on_alert over HTTP under functions-framework: Google's incident samples, as a Pub/Sub channel
delivers them (events/samples/monitoring), decided once, foreign ones acked and recorded."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from interlock import bootstrap
from tests.functions.test_entry_points import client
from tests.handlers.world import World, evaluation, inbound

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "samples" / "monitoring"


@pytest.fixture
def world(monkeypatch):
    w = World()
    monkeypatch.setattr(bootstrap, "handler", lambda: w.handler)
    assert w.handler.handle(inbound(evaluation("1"), "e1")).kind == "promoted"
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "promoted"
    return w


def delivery(name: str, revision: str = "churn-v2", message_id: str | None = None, **changes):
    """A sample delivery, its incident pointed at `revision` (the samples name churn-v7)."""
    doc = json.loads((SAMPLES / name).read_text())
    body = doc["body"]
    incident = json.loads(base64.b64decode(body["message"]["data"]))
    incident["incident"]["resource"]["labels"]["revision_name"] = revision
    incident["incident"].update(changes)
    body["message"]["data"] = base64.b64encode(json.dumps(incident).encode()).decode()
    if message_id is not None:
        body["message"]["messageId"] = doc["headers"]["ce-id"] = message_id
    return doc["headers"], body


def post(name: str, **kw):
    headers, body = delivery(name, **kw)
    return client("on_alert").post("/", headers=headers, json=body)


def alert_outcomes(w: World):
    return [o for o in w.ledger.outcomes() if o.event_type.endswith("monitoring.incident.v1")]


def test_an_open_incident_on_the_canary_is_decided_once_when_redelivered(world):
    assert post("incident.open.json").status_code == 200
    assert post("incident.open.json", message_id="another-delivery").status_code == 200
    (outcome,) = alert_outcomes(world)
    assert outcome.kind == "held"  # one breaching window of three (breaches: 3)
    assert "incident 0.opqiw61fsv7p open on candidate churn-v2" in outcome.reasons[0]
    assert [w.verdict for w in world.ledger.load("churn").state.windows["churn-v2"]] == ["breach"]


def test_a_closed_incident_is_recorded_apart_from_the_open_one(world):
    post("incident.open.json")
    assert post("incident.closed.json").status_code == 200
    kinds = sorted(o.kind for o in alert_outcomes(world))
    assert kinds == ["held", "ignored"]


def test_a_foreign_incident_is_acked_and_recorded_ignored_never_dead_lettered(world):
    assert post("incident.foreign.json").status_code == 200
    (outcome,) = alert_outcomes(world)
    assert outcome.kind == "ignored" and "not for interlock" in outcome.reasons[0]
    assert world.bus.topics.get("dead-letter", []) == []


def test_an_incident_for_a_model_not_in_the_policy_is_acked_and_ignored(world):
    assert (
        post("incident.open.json", policy_user_labels={"interlock-model": "fraud"}).status_code
        == 200
    )
    (outcome,) = alert_outcomes(world)
    assert outcome.kind == "ignored" and "'fraud', not in the policy" in outcome.reasons[0]
    assert world.bus.topics.get("dead-letter", []) == []


def test_an_incident_that_does_not_parse_is_dead_lettered_with_its_field(world):
    assert post("incident.open.json", observed_value="lots").status_code == 200
    (letter,) = world.bus.topics.get("dead-letter", [])
    assert letter.attributes["interlock-field"] == "message.data.incident.observed_value"
