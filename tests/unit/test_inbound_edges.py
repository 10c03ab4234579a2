"""Inbound edges the golden samples do not reach: each bad shape names its field."""

from __future__ import annotations

import base64
import json

import pytest

from interlock.core.effects import DeployRevision, MoveAliases, SetTraffic, TrafficSplit, TriggerDag
from interlock.core.errors import PermanentError
from interlock.core.inbound import (
    MAX_DATA_BYTES,
    check_object_name,
    parse_cloudevent,
    parse_document,
    parse_gcs_object,
    push_body_to_cloudevent,
)

PUBSUB = {
    "specversion": "1.0",
    "type": "google.cloud.pubsub.topic.v1.messagePublished",
    "source": "//s",
    "id": "1",
}
OWN = {
    "ce-specversion": "1.0",
    "ce-type": "dev.interlock.model.rollback.requested.v1",
    "ce-source": "//x",
    "ce-id": "9",
}


def message(
    data: bytes | str | None = b'{"request_id": "r", "model": "churn"}', attributes=None, **extra
):
    body: dict = {
        "attributes": OWN if attributes is None else attributes,
        "messageId": "m1",
        **extra,
    }
    if data is not None:
        body["data"] = base64.b64encode(data).decode() if isinstance(data, bytes) else data
    return {"message": body}


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (message(b"\xff\xfe"), "message.data", "not UTF-8"),
        (message(b"{" + b" " * MAX_DATA_BYTES + b"}"), "message.data", "at most 262144"),
        (message(attributes=[1]), "message.attributes", "expected an object of string attributes"),
        (
            message(attributes={f"k{i}": "v" for i in range(101)}),
            "message.attributes",
            "101 attributes",
        ),
        (message(data=None), "message.data", "required field missing"),
        (message(data=5), "message.data", "expected base64 text"),
        ({"message": "x"}, "data.message", "carries {'message'"),
        (json.dumps(message()).encode()[:-1], "data", "invalid JSON"),
    ],
)
def test_pubsub_delivery_names_the_field_when_malformed(data, field, fragment):
    with pytest.raises(PermanentError) as err:
        parse_cloudevent(PUBSUB, data)
    assert err.value.field == field and fragment in err.value.reason


def test_pubsub_delivery_parses_when_data_arrives_as_json_text_and_attributes_absent():
    event = parse_cloudevent(PUBSUB, json.dumps(message()))
    assert event.payload is not None and event.id == "9"
    with pytest.raises(PermanentError, match="neither an interlock event"):
        parse_cloudevent(PUBSUB, message(attributes={}))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("", "object name is empty"), ("é" * 600, "1200 bytes, GCS allows 1024"), ("a/../b", "'..'")],
)
def test_object_names_are_refused_when_unsafe(name, fragment):
    with pytest.raises(PermanentError, match=fragment):
        check_object_name(name, "name")


def test_gcs_object_must_be_an_object_and_accepts_integer_generation():
    with pytest.raises(PermanentError, match="expected a Cloud Storage object resource"):
        parse_gcs_object([], "data")
    assert (
        parse_gcs_object({"bucket": "bkt", "name": "a.csv", "generation": 7}, "data").generation
        == 7
    )


def test_documents_in_every_recorded_shape_parse():
    own = {"specversion": "1.0", "type": OWN["ce-type"], "source": "//x", "id": "1",
           "data_base64": base64.b64encode(b'{"request_id": "r", "model": "churn"}').decode()}  # fmt: skip
    assert parse_document(own).payload is not None
    binary = {"headers": {"Ce-Specversion": "1.0", "Ce-Type": OWN["ce-type"], "Ce-Source": "//x", "Ce-Id": "2"},
              "body": {"request_id": "r", "model": "churn"}}  # fmt: skip
    assert parse_document(binary).id == "2"
    with pytest.raises(PermanentError, match="a Pub/Sub push body carries"):
        push_body_to_cloudevent({"message": 3})
    with pytest.raises(PermanentError, match="expected a JSON object"):
        parse_document([])


def test_effects_describe_themselves_for_the_decision_trail():
    assert TriggerDag("p", "dag", "run", {}).describe() == "trigger DAG dag run run"
    assert (
        DeployRevision("m", "3", "m-v3", "s", "vm", "img", {}, 8080, {}).describe()
        == "deploy revision m-v3 for m v3"
    )
    assert (
        SetTraffic("m", "s", (TrafficSplit("a", 90, "champion"), TrafficSplit("b", 10))).describe()
        == "traffic a=90% [champion], b=10%"
    )
    assert (
        MoveAliases("m", "vm", "3", ("champion",), ("candidate",)).describe()
        == "aliases v3 +champion -candidate"
    )
