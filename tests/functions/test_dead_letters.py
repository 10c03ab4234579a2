"""Entry points over HTTP under functions-framework: what reaches the dead-letter topic, and what
`on_dead_letter` does with it, asserted on the ledger and the topics (in-memory fakes)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from functions_framework import create_app

from interlock import bootstrap
from interlock.core.binding import payload_message
from interlock.ports import Message
from tests.builders import NOW
from tests.handlers.world import World, evaluation

MAIN = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")


def serving(w: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """Make `w` the world behind every function (the composition root is the seam)."""
    monkeypatch.setattr(bootstrap, "handler", lambda: w.handler)
    return w


@pytest.fixture
def world(monkeypatch):
    return serving(World(), monkeypatch)


def push(function: str, topic: str, message: Message, message_id: str = "m-1") -> int:
    """The Pub/Sub emulator's push of `message`, as functions-framework receives it."""
    app = create_app(target=function, source=MAIN, signature_type="cloudevent")
    body = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message_id,
        },
        "subscription": f"projects/p/subscriptions/{topic}-push",
    }
    status: int = app.test_client().post(f"/projects/p/topics/{topic}", json=body).status_code
    return status


def own_dead_letter(w: World) -> Message:
    """What the handler sends to the dead-letter topic for an evaluation of an unknown model."""
    bad = payload_message(replace(evaluation("1"), model="nobody"), "//test", "ce-1", NOW)
    assert push("on_model_evaluated", "interlock-evaluations", bad) == 200
    (sent,) = w.bus.topics["dead-letter"]
    assert sent.attributes["interlock-field"] == "model"
    return sent


def test_own_dead_letter_records_and_publishes_nothing_when_it_reaches_on_dead_letter(world):
    sent = own_dead_letter(world)
    recorded, published = world.ledger.outcomes(), {t: list(m) for t, m in world.bus.topics.items()}
    assert push("on_dead_letter", "interlock-dead-letter", sent, "dl-1") == 200
    assert world.ledger.outcomes() == recorded
    assert world.bus.topics == published  # no second decision message, no dead letter again


def test_own_dead_letter_records_nothing_when_its_key_is_not_in_this_ledger(monkeypatch):
    # Recorded in another ledger (e.g. before a ledger migration): this one has never seen it.
    sent = own_dead_letter(serving(World(), monkeypatch))
    fresh = serving(World(), monkeypatch)
    assert push("on_dead_letter", "interlock-dead-letter", sent, "dl-1") == 200
    assert fresh.ledger.outcomes() == []
    assert fresh.bus.topics == {}


def test_invalid_message_is_dead_lettered_once_when_pubsub_delivers_it_again_later(world):
    broken = Message(b"{not json", {"ce-specversion": "1.0", "ce-type": "dev.interlock.model.evaluated.v1",
                                    "ce-source": "//test", "ce-id": "ce-9"})  # fmt: skip
    assert push("on_model_evaluated", "interlock-evaluations", broken, "m-9") == 200
    world.now += timedelta(seconds=10)  # Pub/Sub's redelivery comes after a backoff
    assert push("on_model_evaluated", "interlock-evaluations", broken, "m-9") == 200
    (outcome,) = world.ledger.outcomes()
    assert outcome.kind == "dead_lettered" and outcome.reasons[0].startswith("message.data:")
    (sent,) = world.bus.topics["dead-letter"]
    assert sent.data == b"{not json"  # the original, ready for replay once fixed
    assert sent.attributes["interlock-field"] == "message.data"
