"""Poison and hostile inputs: a precise reason, dead-lettered exactly once, no effect, no crash
loop, and the functions' own logs stay one JSON object per line."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interlock.ports import Message

from .conftest import SCALE
from .deliveries import DeadLetterWatch, Delivery
from .rig import Rig

SCENARIO = "poison and hostile"
EVALUATIONS, DATA, REQUESTS = "interlock-evaluations", "interlock-data", "interlock-requests"
EVALUATED = {
    "ce-specversion": "1.0", "ce-type": "dev.interlock.model.evaluated.v1", "ce-source": "//hostile",
}  # fmt: skip
GOOD = {
    "model": "poison", "version": "7", "dataset_id": "holdout-v1", "sample_count": 1000,
    "metrics": {"accuracy": 0.95, "latency_p95_ms": 10.0}, "run_id": "r", "evaluated_at": "2026-11-25T00:00:00Z",
}  # fmt: skip


def own(payload: object, **attributes: str) -> Message:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    now = datetime.now(UTC).isoformat()
    return Message(data, {**EVALUATED, "ce-id": uuid.uuid4().hex, "ce-time": now, **attributes})


def gcs_notification(name: str) -> Message:
    obj = {"bucket": "interlock-landing", "name": name, "generation": "1"}
    attributes = {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", "bucketId": "interlock-landing",
                  "objectId": name, "objectGeneration": "1"}  # fmt: skip
    return Message(json.dumps(obj).encode(), attributes)


def trigger(object_uri: str) -> Message:
    request = {"request_id": f"hostile-{uuid.uuid4().hex[:8]}", "pipeline": "churn-training",
               "object_uri": object_uri}  # fmt: skip
    type_ = "dev.interlock.pipeline.trigger.requested.v1"
    return Message(json.dumps(request).encode(), {**own(b"").attributes, "ce-type": type_})


# (what, topic, the message, the field its dead letter must name)
HAND_WRITTEN: list[tuple[str, str, Callable[[], Message], str]] = [
    ("invalid JSON", EVALUATIONS, lambda: own(b"{not json"), "message.data"),
    ("not UTF-8", EVALUATIONS, lambda: own(b"\xff\xfe\x00"), "message.data"),
    ("schema violation", EVALUATIONS, lambda: own({**GOOD, "sample_count": "many"}), "message.data.sample_count"),
    ("unknown field", EVALUATIONS, lambda: own({**GOOD, "sampel_count": 3}), "message.data.sampel_count"),
    ("control characters", EVALUATIONS, lambda: own({**GOOD, "run_id": "a\x1b[2Jb\nc"}), "message.data.run_id"),
    ("huge string", EVALUATIONS, lambda: own({**GOOD, "dataset_id": "x" * 100_000}), "message.data.dataset_id"),
    ("unknown model", EVALUATIONS, lambda: own({**GOOD, "model": "nobody"}), "model"),
    ("template in run id", EVALUATIONS, lambda: own({**GOOD, "run_id": "{{ var.value.secret }}" * 20}),
     "message.data.run_id"),
    ("wrong specversion", EVALUATIONS, lambda: own(GOOD, **{"ce-specversion": "0.3"}),
     "message.attributes.ce-specversion"),
    ("8 MB payload", EVALUATIONS, lambda: own(b"{" + b" " * (8 * 1024 * 1024) + b"}"), "message.data"),
    ("object name climbing ..", DATA, lambda: gcs_notification("churn/incoming/../../etc/passwd.csv"),
     "message.data.name"),
    ("object name template", DATA, lambda: gcs_notification("churn/incoming/{{ dag_run.conf }}.csv"),
     "message.data.name"),
    ("object name $(…)", DATA, lambda: gcs_notification("churn/incoming/$(rm -rf ~).csv"), "message.data.name"),
    ("trigger outside the bucket", REQUESTS, lambda: trigger("gs://other-bucket/churn/x.csv#1"), "object_uri"),
]  # fmt: skip


@dataclass(frozen=True)
class Untouched:
    """What no poison may change: revisions and traffic anywhere, the poison model's serving."""

    counters: tuple[int, int]
    traffic: dict[str, int]
    aliases: dict[str, str]

    @classmethod
    def now(cls, rig: Rig) -> Untouched:
        counters = rig.counters()
        return cls(
            (counters["revisions_created"], counters["traffic_updates"]),
            rig.traffic("poison"),
            rig.aliases("poison"),
        )


@pytest.fixture
def dead_letters(rig: Rig) -> DeadLetterWatch:
    return rig.watch_dead_letters()


def assert_logs_are_json(lines: list[str]) -> None:
    for line in lines:
        if line.startswith("{"):
            json.loads(line)  # each of our entries is one whole JSON object, whatever came in


def assert_one_dead_letter(dead_letters: DeadLetterWatch, delivery: Delivery, what: str) -> None:
    assert dead_letters.copies([delivery.event_id]) == {delivery.event_id: 1}, what


def test_hand_written_hostile_inputs_are_dead_lettered_once_naming_the_field(
    rig: Rig, dead_letters: DeadLetterWatch
):
    before, marks = Untouched.now(rig), rig.log_marks()
    sent = [
        (what, field, rig.publish_raw(SCENARIO, topic, build(), what))
        for what, topic, build, field in HAND_WRITTEN
    ]
    outcomes = rig.settle(SCENARIO, timeout_s=120, keys=[d.key for _, _, d in sent])
    for what, field, delivery in sent:
        outcome = outcomes.get(delivery.key)
        assert outcome is not None, f"{what}: no final state"
        assert outcome.kind == "dead_lettered", (what, outcome.kind, outcome.reasons)
        assert outcome.reasons[0].startswith(f"{field}: "), (what, outcome.reasons)
        assert_one_dead_letter(dead_letters, delivery, what)
    assert Untouched.now(rig) == before
    assert_logs_are_json(rig.log_lines_since(marks))
    rig.reconcile(SCENARIO, [d.key for _, _, d in sent])


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
def test_generated_poison_is_dead_lettered_once_or_ignored_without_effects(
    rig: Rig, dead_letters: DeadLetterWatch, data: bytes, attributes: dict[str, str]
):
    assume(data or attributes)  # Pub/Sub itself refuses a message with neither
    before, marks = Untouched.now(rig), rig.log_marks()
    delivery = rig.publish_raw(SCENARIO, EVALUATIONS, Message(data, attributes), "generated")
    outcome = rig.settle(SCENARIO, keys=[delivery.key]).get(delivery.key)
    assert outcome is not None, "no final state"
    if delivery.refused is not None:
        assert outcome.kind == "dead_lettered", (outcome.kind, outcome.reasons)
        assert str(delivery.refused).startswith(outcome.reasons[0])  # the parser's own words
    # What parses (e.g. a GCS notification of another event type) is ignored or refused later.
    assert outcome.kind in ("dead_lettered", "ignored"), (outcome.kind, outcome.reasons)
    if outcome.kind == "dead_lettered":
        assert ":" in outcome.reasons[0], f"the reason names no field: {outcome.reasons}"
        assert_one_dead_letter(dead_letters, delivery, "generated")
    assert Untouched.now(rig) == before
    assert_logs_are_json(rig.log_lines_since(marks))
