"""Golden samples in events/samples: every inbound shape parses, every malformed one is refused.

A binary-mode sample is stored as the HTTP request ({"headers", "body"}); it is turned into
CloudEvent attributes and data the way functions-framework does (via the cloudevents SDK).
Everything else is a document, parsed as a user keeps it (`parse_document`).
"""

from __future__ import annotations

import base64
import fnmatch
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.core.errors import PermanentError
from interlock.core.events import (
    GCS_FINALIZED,
    MONITORING_INCIDENT,
    AlertIncident,
    DataLanded,
    ModelEvaluated,
    ModelObserved,
    PromoteRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.inbound import Inbound, parse_cloudevent, parse_document
from interlock.core.keys import idempotency_key
from interlock.core.policy_load import load_policy

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "samples"
MALFORMED = SAMPLES / "malformed"
EXPECTED_ERRORS: dict[str, dict[str, str]] = json.loads((MALFORMED / "expected.json").read_text())


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def is_binary(doc: Any) -> bool:
    return isinstance(doc, dict) and set(doc) == {"headers", "body"}


def binary_to_cloudevent(doc: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """`ce-*` headers become attributes, Content-Type the datacontenttype, the JSON body data."""
    headers = doc["headers"]
    attributes = {k[3:].lower(): v for k, v in headers.items() if k.lower().startswith("ce-")}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return attributes, doc["body"]


def parse_sample(doc: Any) -> Inbound:
    if is_binary(doc):
        return parse_cloudevent(*binary_to_cloudevent(doc))
    return parse_document(doc)


def rel(path: Path) -> str:
    return path.relative_to(SAMPLES).as_posix()


GOLDEN = sorted(rel(p) for p in SAMPLES.rglob("*.json") if p.parent != MALFORMED)
BINARY = [name for name in GOLDEN if name.startswith("eventarc-pubsub-binary/")]
EMULATOR = [name for name in GOLDEN if name.startswith("emulator-push/")]
MALFORMED_FILES = sorted(p.name for p in MALFORMED.glob("*.json") if p.name != "expected.json")


@dataclass(frozen=True)
class Expect:
    payload_type: type | None
    ce_type: str
    values: dict[str, Any] = field(default_factory=dict)
    ignored: str | None = None


NAME = "churn/incoming/2024-06-03.csv"
GENERATION = 1717405212345678
INPUT_URI = f"gs://interlock-landing/{NAME}#{GENERATION}"
EVALUATED = Expect(
    ModelEvaluated,
    "dev.interlock.model.evaluated.v1",
    {
        "model": "churn",
        "version": "7",
        "sample_count": 5000,
        "metrics": {"accuracy": 0.874, "latency_p95_ms": 84.0},
        "input_uri": INPUT_URI,
    },
)
OBSERVED = Expect(
    ModelObserved,
    "dev.interlock.model.observed.v1",
    {"model": "churn", "revision": "churn-v7", "version": "7", "sample_count": 412},
)
TRIGGER = Expect(
    TriggerRequested,
    "dev.interlock.pipeline.trigger.requested.v1",
    {"pipeline": "churn-training", "object_uri": INPUT_URI, "requested_by": "alice@example.com"},
)
PROMOTE = Expect(
    PromoteRequested,
    "dev.interlock.model.promote.requested.v1",
    {"model": "churn", "version": "7", "force": False, "request_id": "req-20240603-promote-01"},
)
ROLLBACK = Expect(
    RollbackRequested,
    "dev.interlock.model.rollback.requested.v1",
    {"model": "churn", "request_id": "req-20240603-rollback-01"},
)
LANDED = Expect(
    DataLanded,
    GCS_FINALIZED,
    {
        "bucket": "interlock-landing",
        "name": NAME,
        "generation": GENERATION,
        "size": 482113,
        "content_type": "text/csv",
        "uri": INPUT_URI,
    },
)
# payloadFormat NONE carries only the attributes: no size or content type.
LANDED_ATTRIBUTES_ONLY = Expect(
    DataLanded,
    GCS_FINALIZED,
    {"bucket": "interlock-landing", "name": NAME, "generation": GENERATION, "size": None},
)

OWN = {
    "model.evaluated": EVALUATED,
    "model.observed": OBSERVED,
    "pipeline.trigger.requested": TRIGGER,
    "model.promote.requested": PROMOTE,
    "model.rollback.requested": ROLLBACK,
}
EXPECTED: dict[str, Expect] = {
    **{
        f"{shape}/{kind}.json": e
        for kind, e in OWN.items()
        for shape in ("eventarc-pubsub-binary", "emulator-push", "structured")
    },
    "eventarc-pubsub-binary/gcs-notification.finalize.json": LANDED,
    "eventarc-pubsub-binary/gcs-notification.finalize.payload-none.json": LANDED_ATTRIBUTES_ONLY,
    "eventarc-pubsub-binary/gcs-notification.delete.json": Expect(
        None, "google.cloud.storage.object.v1.deleted", ignored="OBJECT_DELETE"
    ),
    "emulator-push/gcs-notification.finalize.json": LANDED,
    "structured/storage.object.finalized.json": LANDED,
    "structured/pubsub.model.evaluated.json": EVALUATED,
    # Cloud Monitoring's Pub/Sub channel: Google's incident JSON (schema 1.2), no ce-* attributes.
    "monitoring/incident.open.json": Expect(
        AlertIncident,
        MONITORING_INCIDENT,
        {
            "model": "churn",
            "incident_id": "0.opqiw61fsv7p",
            "state": "open",
            "revision": "churn-v7",
            "observed_value": 0.2,
            "threshold_value": 0.05,
            "started_at": datetime(2024, 6, 3, 9, 10, tzinfo=UTC),
            "ended_at": None,
        },
    ),
    "monitoring/incident.closed.json": Expect(
        AlertIncident,
        MONITORING_INCIDENT,
        {"state": "closed", "ended_at": datetime(2024, 6, 3, 9, 20, tzinfo=UTC)},
    ),
    "monitoring/incident.foreign.json": Expect(
        None, MONITORING_INCIDENT, ignored="carries no policy_user_labels['interlock-model']"
    ),
}

POLICY = load_policy(yaml.safe_load((ROOT / "interlock.yaml").read_text()))


def test_every_golden_sample_has_an_expectation_when_samples_are_listed() -> None:
    # A sample added without an expectation would otherwise be parsed but never checked.
    assert set(GOLDEN) == set(EXPECTED)


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_sample_parses_into_its_payload_when_read_as_delivered(name: str) -> None:
    expect = EXPECTED[name]
    event = parse_sample(load(SAMPLES / name))
    assert event.type == expect.ce_type
    if expect.payload_type is None:
        assert event.payload is None
        assert expect.ignored is not None and expect.ignored in (event.ignored or "")
        return
    assert type(event.payload) is expect.payload_type
    for attr, value in expect.values.items():
        got = getattr(event.payload, attr)
        assert (dict(got) if attr == "metrics" else got) == value, attr
    assert event.id and event.source


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_sample_agrees_with_interlock_yaml_when_it_names_data_or_a_model(name: str) -> None:
    payload = parse_sample(load(SAMPLES / name)).payload
    models = {m.name for m in POLICY.models}
    pipelines = {p.name: p for p in POLICY.pipelines}
    if isinstance(payload, DataLanded):
        pipeline = pipelines["churn-training"]
        assert payload.bucket == pipeline.bucket
        assert payload.name.startswith(pipeline.prefix)
        assert fnmatch.fnmatch(payload.name.removeprefix(pipeline.prefix), pipeline.glob)
    elif isinstance(payload, TriggerRequested):
        assert payload.pipeline in pipelines
    elif payload is not None:
        assert isinstance(
            payload,
            ModelEvaluated | ModelObserved | PromoteRequested | RollbackRequested | AlertIncident,
        )
        assert payload.model in models


@pytest.mark.parametrize("name", [n for n in GOLDEN if "/model." in n or "/pipeline." in n])
def test_same_idempotency_key_when_one_event_arrives_in_every_shape(name: str) -> None:
    # A re-delivery through another path (emulator vs Eventarc vs direct) is the same fact.
    kind = name.split("/", 1)[1]
    keys = {
        idempotency_key(parse_sample(load(SAMPLES / f"{shape}/{kind}")))
        for shape in ("eventarc-pubsub-binary", "emulator-push", "structured")
    }
    assert len(keys) == 1


@pytest.mark.parametrize("name", BINARY)
def test_binary_conversion_matches_the_cloudevents_sdk_when_given_the_stored_request(
    name: str,
) -> None:
    http = pytest.importorskip("cloudevents.http")
    doc = load(SAMPLES / name)
    event = http.from_http(doc["headers"], json.dumps(doc["body"]))
    assert binary_to_cloudevent(doc) == (event.get_attributes(), event.data)


@pytest.mark.parametrize("name", EMULATOR)
def test_emulator_push_parses_the_same_when_functions_framework_converts_it(name: str) -> None:
    flask = pytest.importorskip("flask")
    conversion = pytest.importorskip("functions_framework.event_conversion")
    body = load(SAMPLES / name)
    topic = body["subscription"].replace("subscriptions", "topics").removesuffix("-push")
    app = flask.Flask(__name__)
    # functions-framework reads the topic from the push URL, not from the body.
    with app.test_request_context(f"/{topic}", method="POST", json=body):
        converted = conversion.background_event_to_cloud_event(flask.request)
    via_framework = parse_cloudevent(converted.get_attributes(), converted.data)
    via_core = parse_document(body)
    assert via_framework.payload == via_core.payload
    assert via_framework.message_id == via_core.message_id == body["message"]["messageId"]
    # What the conversion keeps, so a reader of the README knows what is lost.
    assert set(converted.data) == {"message"}
    assert set(converted.data["message"]) == {
        "@type",
        "data",
        "attributes",
        "messageId",
        "publishTime",
    }


def test_every_malformed_file_has_an_expectation_when_samples_are_listed() -> None:
    assert set(MALFORMED_FILES) == set(EXPECTED_ERRORS)
    assert len(MALFORMED_FILES) >= 18


@pytest.mark.parametrize("name", MALFORMED_FILES)
def test_permanent_error_names_the_field_when_the_sample_is_malformed(name: str) -> None:
    expected = EXPECTED_ERRORS[name]
    with pytest.raises(PermanentError) as caught:
        parse_sample(load(MALFORMED / name))
    assert caught.value.field == expected["field"]
    assert expected["contains"] in caught.value.reason


# --- oversized inputs: generated here, too big to commit ---------------------------------------


def _push(data: str | None, attributes: dict[str, str]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "attributes": attributes,
        "messageId": "1",
        "publishTime": "2024-06-03T10:42:18Z",
    }
    if data is not None:
        message["data"] = data
    return {"message": message, "subscription": "projects/demo-project/subscriptions/s"}


def _own_attributes() -> dict[str, str]:
    return load(SAMPLES / "emulator-push/model.evaluated.json")["message"]["attributes"]


def _evaluated() -> dict[str, Any]:
    return load(SAMPLES / "structured/model.evaluated.json")


def _oversized_attribute() -> Any:
    return _push(None, {**_own_attributes(), "comment": "x" * (2 * 1024 * 1024)})


def _oversized_data() -> Any:
    return _push(
        base64.b64encode(b"{" + b" " * (10 * 1024 * 1024) + b"}").decode(), _own_attributes()
    )


def _oversized_data_base64() -> Any:
    doc = _evaluated()
    del doc["data"]
    doc["data_base64"] = base64.b64encode(b" " * (10 * 1024 * 1024)).decode()
    return doc


def _long_model_name() -> Any:
    doc = _evaluated()
    doc["data"]["model"] = "c" * 2000
    return doc


def _deeply_nested_data() -> Any:
    return _push(base64.b64encode(b"[" * 200_000).decode(), _own_attributes())


def _huge_integer_data() -> Any:
    return _push(
        base64.b64encode(b'{"sample_count": 1' + b"0" * 5000 + b"}").decode(), _own_attributes()
    )


OVERSIZED = {
    "2mb-attribute-value": (_oversized_attribute, "message.attributes.comment", "at most 1024"),
    "10mb-pubsub-data": (_oversized_data, "message.data", "over"),
    "10mb-data-base64": (_oversized_data_base64, "data_base64", "over"),
    "2000-char-model-name": (_long_model_name, "data.model", "too long: 2000 characters"),
    # Both fit in 256 KiB, so only the JSON parser's own limits stop them.
    "200k-nested-arrays": (_deeply_nested_data, "message.data", "nested too deeply"),
    "5000-digit-integer": (_huge_integer_data, "message.data", "invalid JSON"),
}


@pytest.mark.parametrize("name", sorted(OVERSIZED))
def test_permanent_error_names_the_field_when_the_input_is_oversized(name: str) -> None:
    build, field_name, contains = OVERSIZED[name]
    with pytest.raises(PermanentError) as caught:
        parse_sample(build())
    assert caught.value.field == field_name
    assert contains in caught.value.reason
