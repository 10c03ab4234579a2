"""Entry points over HTTP under functions-framework, in every delivery shape, for each outcome.

The handler behind them runs on the in-memory fakes (tests/contract keeps those honest); what is
under test here is the HTTP contract: shapes accepted, 200 to ack, 500 to make Pub/Sub retry.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from functions_framework import create_app

from interlock import bootstrap
from interlock.core import binding
from interlock.core.codec import encode, format_time
from interlock.core.errors import TransientError
from tests.builders import NOW
from tests.handlers.world import World, evaluation, inbound, window

MAIN = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")


@pytest.fixture
def world(monkeypatch):
    w = World()
    monkeypatch.setattr(bootstrap, "handler", lambda: w.handler)
    return w


def client(target: str):
    return create_app(target=target, source=MAIN, signature_type="cloudevent").test_client()


def pubsub_message(payload, ce_id: str = "ce-1") -> dict:
    message = binding.payload_message(payload, "//test", ce_id, NOW)
    return {
        "data": base64.b64encode(message.data).decode(),
        "attributes": dict(message.attributes),
        "messageId": "m-" + ce_id,
        "publishTime": format_time(NOW),
    }


def binary(c, payload, ce_id="ce-1"):
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/evaluations",
        "ce-id": "pubsub-" + ce_id,
        "Content-Type": "application/json",
    }
    body = {"message": pubsub_message(payload, ce_id), "subscription": "projects/p/subscriptions/s"}
    return c.post("/", headers=headers, json=body)


def structured(c, payload, ce_id="ce-1"):
    event = binding.structured(binding.ce_type_of(payload), "//cli", ce_id, NOW, encode(payload))
    return c.post(
        "/", headers={"Content-Type": "application/cloudevents+json"}, data=json.dumps(event)
    )


def emulator_push(c, payload, ce_id="ce-1"):
    # The emulator posts the raw push body to the push endpoint; functions-framework converts it.
    body = {"message": pubsub_message(payload, ce_id), "subscription": "projects/p/subscriptions/s"}
    return c.post("/projects/p/topics/evaluations", json=body)


SHAPES = [binary, structured, emulator_push]


@pytest.mark.parametrize("send", SHAPES, ids=lambda f: f.__name__)
def test_evaluation_is_applied_and_acked_when_it_passes(world, send):
    response = send(client("on_model_evaluated"), evaluation("1"))
    assert response.status_code == 200, response.data
    assert world.traffic() == {"churn-v1": 100}
    assert world.ledger.outcomes()[0].kind == "promoted"


@pytest.mark.parametrize("send", SHAPES, ids=lambda f: f.__name__)
def test_evaluation_is_rejected_and_acked_when_it_fails_the_gate(world, send):
    response = send(client("on_model_evaluated"), evaluation("1", auc=0.5))
    assert response.status_code == 200
    (outcome,) = world.ledger.outcomes()
    assert outcome.kind == "rejected" and "auc = 0.5" in outcome.reasons[0]
    assert world.bus.types("decisions") == ["dev.interlock.model.rejected.v1"]


def test_window_of_a_revision_that_no_longer_serves_is_recorded_stale(world):
    c = client("on_model_observed")
    world.handler.handle(inbound(evaluation("1")))
    response = binary(c, window("7", 1))
    assert response.status_code == 200
    assert world.ledger.outcomes()[0].kind == "stale"


def test_old_window_is_recorded_expired_and_acked(world):
    world.now = NOW + timedelta(hours=3)
    response = structured(client("on_model_observed"), window("1", 1))
    assert response.status_code == 200
    assert world.ledger.outcomes()[0].kind == "expired"


def test_unavailable_upstream_answers_200_and_parks_the_event_for_the_tick(world):
    world.router.fail_next(TransientError("Cloud Run 503"))
    response = binary(client("on_model_evaluated"), evaluation("1"))
    assert response.status_code == 200
    assert world.ledger.outcomes() == []
    assert [p.subject for p in world.ledger.parked()] == ["churn"]
    assert binary(client("on_model_evaluated"), evaluation("1")).status_code == 200
    assert world.traffic() == {"churn-v1": 100}


def test_busy_model_answers_500_so_pubsub_redelivers(world):
    assert world.ledger.acquire("churn", "someone-else", 60, world.now)
    response = binary(client("on_model_evaluated"), evaluation("1"))
    assert response.status_code == 500
    assert world.ledger.outcomes() == [] and world.ledger.parked() == []


@pytest.mark.parametrize("send", SHAPES, ids=lambda f: f.__name__)
def test_invalid_event_is_acked_and_dead_lettered_with_reason(world, send):
    bad = dataclasses.replace(evaluation("1"), model="unknown-model")
    response = send(client("on_model_evaluated"), bad)
    assert response.status_code == 200
    (dead,) = world.bus.topics["dead-letter"]
    assert dead.attributes["interlock-field"] == "model"
    assert json.loads(dead.data)["model"] == "unknown-model"  # the original, ready for replay


def test_malformed_base64_is_dead_lettered_naming_the_field(world):
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
               "ce-source": "//pubsub", "ce-id": "x1", "Content-Type": "application/json"}  # fmt: skip
    body = {
        "message": {
            "data": "%%%not-base64",
            "attributes": {"ce-type": "dev.interlock.model.evaluated.v1"},
            "messageId": "1",
        }
    }
    response = client("on_model_evaluated").post("/", headers=headers, json=body)
    assert response.status_code == 200
    (outcome,) = world.ledger.outcomes()
    assert outcome.kind == "dead_lettered" and outcome.reasons[0].startswith(
        "message.data: invalid base64"
    )


def test_event_sent_to_the_wrong_function_is_dead_lettered(world):
    response = structured(client("on_data_landed"), evaluation("1"))
    assert response.status_code == 200
    (outcome,) = world.ledger.outcomes()
    assert (
        "on_data_landed takes data.landed, not model.evaluated: send it to on_model_evaluated"
        in outcome.reasons[0]
    )


def test_gcs_notification_triggers_a_dag_run_through_on_data_landed(world):
    obj = {
        "bucket": "landing",
        "name": "churn/x.csv",
        "generation": "12",
        "size": "10",
        "md5Hash": "q==",
    }
    message = {
        "data": base64.b64encode(json.dumps(obj).encode()).decode(),
        "attributes": {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", "bucketId": "landing",
                       "objectId": "churn/x.csv", "objectGeneration": "12"},
        "messageId": "n1", "publishTime": format_time(NOW),
    }  # fmt: skip
    c = client("on_data_landed")
    assert (
        c.post(
            "/projects/p/topics/data", json={"message": message, "subscription": "s"}
        ).status_code
        == 200
    )
    assert (
        c.post(
            "/projects/p/topics/data",
            json={"message": {**message, "messageId": "n2"}, "subscription": "s"},
        ).status_code
        == 200
    )
    (run,) = world.dags.runs.values()
    assert run.conf["object"] == "gs://landing/churn/x.csv#12"


def test_manual_promote_goes_through_on_request(world):
    from interlock.core.events import PromoteRequested

    world.handler.handle(inbound(evaluation("1")))
    response = structured(
        client("on_request"),
        PromoteRequested(request_id="r-9", model="churn", version="3", requested_by="ana"),
    )
    assert response.status_code == 200
    assert world.traffic() == {"churn-v1": 90, "churn-v3": 10}
    assert world.ledger.outcomes()[0].requested_by == "ana"


def dead_letter_push(c, payload, extra_attributes):
    message = pubsub_message(payload)
    message["attributes"].update(extra_attributes)
    return c.post(
        "/projects/p/topics/interlock-dead-letter", json={"message": message, "subscription": "s"}
    )


def test_message_pubsub_gave_up_on_is_recorded_once_as_dead_lettered(world):
    c = client("on_dead_letter")
    attrs = {
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": "evaluations-push",
    }
    assert dead_letter_push(c, evaluation("1"), attrs).status_code == 200
    assert dead_letter_push(c, evaluation("1"), attrs).status_code == 200
    (outcome,) = world.ledger.outcomes()
    assert outcome.kind == "dead_lettered"
    assert "gave up after 5 delivery attempts from evaluations-push" in outcome.reasons[0]
    assert world.ledger.get("evaluated:churn:1:run-1") == outcome
    assert "dead-letter" not in world.bus.topics  # never sent round again
