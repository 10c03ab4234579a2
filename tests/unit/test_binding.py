"""Core: the CloudEvents bindings, both directions — what we build, our parser reads back."""

from __future__ import annotations

import base64
import json

from interlock.core import binding
from interlock.core.codec import encode
from interlock.core.errors import PermanentError
from interlock.core.events import PUBSUB_PUBLISHED
from interlock.core.inbound import parse_cloudevent, parse_document
from tests.builders import NOW, evaluated, observed


def delivered(message: binding.Message, message_id: str = "m-1") -> tuple[dict, dict]:
    """A Pub/Sub message as Eventarc delivers it: Google's CloudEvent around the message."""
    attributes = {"specversion": "1.0", "type": PUBSUB_PUBLISHED, "id": message_id,
                  "source": "//pubsub.googleapis.com/projects/p/topics/t"}  # fmt: skip
    data = {"message": {"data": base64.b64encode(message.data).decode(),
                        "attributes": dict(message.attributes), "messageId": message_id}}  # fmt: skip
    return attributes, data


def test_pubsub_message_parses_back_to_the_same_payload_when_delivered():
    message = binding.payload_message(evaluated(), "//test", "ce-1", NOW)
    event = parse_cloudevent(*delivered(message))
    assert (event.id, event.type, event.payload) == (
        "ce-1", "dev.interlock.model.evaluated.v1", evaluated(),
    )  # fmt: skip


def test_structured_event_parses_back_to_the_same_payload_when_posted():
    ce_type = binding.ce_type_of(observed())
    doc = binding.structured(ce_type, "//cli", "ce-2", NOW, encode(observed()))
    assert parse_document(json.loads(json.dumps(doc))).payload == observed()


def test_original_message_is_kept_verbatim_when_a_pubsub_delivery_is_dead_lettered():
    message = binding.Message(b"\x00not json", {"eventType": "OBJECT_FINALIZE", "k": "v"})
    attributes, data = delivered(message)
    assert binding.original_message(attributes, data) == message


def test_dead_letter_message_is_recognised_as_ours_when_it_comes_back():
    original = binding.Message(b"{}", {"ce-type": "t"})
    err = PermanentError("model", "unknown\nmodel")
    marked = binding.dead_letter_message(original, err, "e-1", "t")
    assert marked.data == original.data
    assert marked.attributes["interlock-reason"] == "model: unknown model"
    assert binding.is_own_dead_letter(delivered(marked)[1])
    assert not binding.is_own_dead_letter(delivered(original)[1])
