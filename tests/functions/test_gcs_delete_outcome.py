"""A Cloud Storage OBJECT_DELETE notification is recorded under its own type, never "finalized"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock import bootstrap
from tests.functions.test_entry_points import client
from tests.handlers.world import World

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "events/samples/eventarc-pubsub-binary/gcs-notification.delete.json"
)


@pytest.fixture
def world(monkeypatch):
    w = World()
    monkeypatch.setattr(bootstrap, "handler", lambda: w.handler)
    return w


def test_the_recorded_outcome_says_deleted_when_the_notification_is_object_delete(world):
    doc = json.loads(SAMPLE.read_text())
    response = client("on_data_landed").post("/", headers=doc["headers"], json=doc["body"])
    assert response.status_code < 300
    (outcome,) = world.ledger.outcomes()
    assert outcome.kind == "ignored" and "OBJECT_DELETE" in outcome.reasons[0]
    assert outcome.event_type == "google.cloud.storage.object.v1.deleted"
