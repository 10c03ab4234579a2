"""Poison and hostile inputs: a precise reason, dead-lettered exactly once, no effect, no crash
loop, and the functions' own logs stay one JSON object per line."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interlock.core.decision import idempotency_key
from interlock.core.errors import PermanentError
from interlock.core.inbound import parse_cloudevent
from interlock.ports import Message
from interlock_dev.stack import PROJECT

from .conftest import SCALE
from .rig import Rig

SCENARIO = "poison and hostile"
SENT: list[tuple[str, str]] = []  # (key, what)

EVALUATED = {
    "ce-specversion": "1.0", "ce-type": "dev.interlock.model.evaluated.v1", "ce-source": "//hostile",
}  # fmt: skip
GOOD = {
    "model": "poison", "version": "7", "dataset_id": "holdout-v1", "sample_count": 1000,
    "metrics": {"accuracy": 0.95, "latency_p95_ms": 10.0}, "run_id": "r", "evaluated_at": "2026-11-25T00:00:00Z",
}  # fmt: skip


def expected_key(topic: str, message_id: str, message: Message) -> str:
    """The key the function will record under, computed the way it parses the delivery."""
    attributes = {"specversion": "1.0", "type": "google.cloud.pubsub.topic.v1.messagePublished",
                  "source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}", "id": message_id}  # fmt: skip
    data = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message_id,
        }
    }
    try:
        return idempotency_key(parse_cloudevent(attributes, data))
    except PermanentError:
        return f"invalid:{attributes['source']}:{message_id}"


def send(rig: Rig, message: Message, what: str, topic: str = "interlock-evaluations") -> str:
    message_id = rig.bus.publish(f"projects/{PROJECT}/topics/{topic}", message)
    key = expected_key(topic, message_id, message)
    rig.record_sent(SCENARIO, key, what, 1)
    SENT.append((key, what))
    return key


def own(payload: object, **attributes: str) -> Message:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    now = datetime.now(UTC).isoformat()
    return Message(data, {**EVALUATED, "ce-id": f"h-{len(SENT)}", "ce-time": now, **attributes})


HAND_WRITTEN = [
    ("invalid JSON", lambda: own(b"{not json")),
    ("not UTF-8", lambda: own(b"\xff\xfe\x00")),
    ("schema violation", lambda: own({**GOOD, "sample_count": "many"})),
    ("unknown field", lambda: own({**GOOD, "sampel_count": 3})),
    ("control characters", lambda: own({**GOOD, "run_id": "a\x1b[2Jb\nc"})),
    ("huge string", lambda: own({**GOOD, "dataset_id": "x" * 100_000})),
    ("unknown model", lambda: own({**GOOD, "model": "nobody"})),
    ("template in run id", lambda: own({**GOOD, "run_id": "{{ var.value.secret }}" * 20})),
    ("wrong specversion", lambda: own(GOOD, **{"ce-specversion": "0.3"})),
    ("8 MB payload", lambda: own(b"{" + b" " * (8 * 1024 * 1024) + b"}")),
]
GCS_HOSTILE = [
    "churn/incoming/../../etc/passwd.csv",
    "churn/incoming/{{ dag_run.conf }}.csv",
    "churn/incoming/$(rm -rf ~).csv",
]


def test_hand_written_hostile_inputs_are_dead_lettered_once(rig: Rig):
    for what, build in HAND_WRITTEN:
        send(rig, build(), what)
    for name in GCS_HOSTILE:
        obj = {"bucket": "interlock-landing", "name": name, "generation": "1"}
        attributes = {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", "bucketId": "interlock-landing",
                      "objectId": name, "objectGeneration": "1"}  # fmt: skip
        send(
            rig,
            Message(json.dumps(obj).encode(), attributes),
            f"object name {name!r}",
            topic="interlock-data",
        )
    trigger = {
        "request_id": "hostile-1",
        "pipeline": "churn-training",
        "object_uri": "gs://other-bucket/churn/x.csv#1",
    }
    send(rig, Message(json.dumps(trigger).encode(), {**own(b"").attributes, "ce-type": "dev.interlock.pipeline.trigger.requested.v1"}),
         "gs://other-bucket", topic="interlock-requests")  # fmt: skip


@settings(
    max_examples=15 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(st.binary(max_size=300), st.dictionaries(st.text(max_size=12), st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=40),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=10), max_size=8).map(lambda d: json.dumps(d).encode())),
    attributes=st.dictionaries(st.sampled_from(["ce-type", "ce-id", "ce-source", "ce-specversion", "eventType", "x"]),
                               st.text(st.characters(blacklist_categories=["Cs"]), max_size=30), max_size=5),
)  # fmt: skip
def test_generated_poison_is_dead_lettered_once(rig: Rig, data: bytes, attributes: dict[str, str]):
    assume(data or attributes)  # Pub/Sub itself refuses a message with neither
    send(rig, Message(data, attributes), "generated")


def test_every_poison_ends_dead_lettered_once_without_effects_and_logs_stay_json(rig: Rig):
    before = rig.counters()
    outcomes = rig.settle(SCENARIO, timeout_s=120)
    for key, what in SENT:
        outcome = outcomes.get(key)
        assert outcome is not None, f"{what}: no final state"
        assert outcome.kind in ("dead_lettered", "ignored"), (what, outcome.kind, outcome.reasons)
        if outcome.kind == "dead_lettered":
            assert ":" in outcome.reasons[0], f"{what}: reason names no field: {outcome.reasons}"
    after = rig.counters()
    assert after["revisions_created"] == before["revisions_created"]
    assert (
        rig.traffic("poison") in ({}, {"poison-00001": 100})
        or sum(rig.traffic("poison").values()) == 100
    )
    for log in Path(rig.stack.info.root, "logs").glob("fn-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                json.loads(line)  # each of our entries is one whole JSON object
    rig.reconcile(SCENARIO)
