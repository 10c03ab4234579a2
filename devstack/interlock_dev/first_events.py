"""Local stack: the first real event of each function, as a structured CloudEvent (JSON).

Shared by `make bench` (cold start, peak RSS) and the import guard (tests/functions): both
deliver exactly what a function's cold path sees first, fresh (time now, new ids), so nothing is
judged expired or duplicate and every function runs its whole path.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from interlock.core import binding
from interlock.core.codec import encode, format_time, parse_time
from interlock.core.events import (
    GCS_FINALIZED,
    PUBSUB_PUBLISHED,
    ModelEvaluated,
    ModelObserved,
    RollbackRequested,
    Tick,
)
from interlock.ports import Message

Event = dict[str, Any]


def _structured(payload: Any) -> Event:
    return binding.structured(
        binding.ce_type_of(payload), "//bench", uuid.uuid4().hex, datetime.now(UTC), encode(payload)
    )


def landed() -> Event:
    generation = str(time.time_ns() // 1000)
    return binding.structured(
        GCS_FINALIZED, "//storage.googleapis.com/projects/_/buckets/interlock-landing",
        uuid.uuid4().hex, datetime.now(UTC),
        {"bucket": "interlock-landing", "name": f"churn/incoming/bench-{generation}.csv",
         "generation": generation, "size": "10"},
    )  # fmt: skip


def evaluated(version: str = "1") -> Event:
    return _structured(ModelEvaluated(
        model="churn", version=version, dataset_id="bench", sample_count=1000,
        metrics={"accuracy": 0.95, "latency_p95_ms": 10.0}, evaluated_at=datetime.now(UTC),
        run_id=uuid.uuid4().hex,
    ))  # fmt: skip


def observed(revision: str = "churn-v99", version: str = "99", error_rate: float = 0.0) -> Event:
    end = datetime.now(UTC)
    return _structured(ModelObserved(
        model="churn", revision=revision, version=version, window_start=end - timedelta(minutes=1),
        window_end=end, sample_count=100, metrics={"error_rate": error_rate, "accuracy": 1.0},
    ))  # fmt: skip


def rollback() -> Event:
    return _structured(
        RollbackRequested(request_id=uuid.uuid4().hex, model="churn", requested_by="bench")
    )


def dead_letter() -> Event:
    """What Pub/Sub moves to the dead-letter topic after the last attempt: an evaluation, in
    the Pub/Sub CloudEvent Eventarc delivers, with the delivery-count attributes Pub/Sub adds."""
    now = datetime.now(UTC)
    inner = binding.payload_message(
        ModelEvaluated(
            model="churn", version="1", dataset_id="bench", sample_count=1000,
            metrics={"accuracy": 0.95}, evaluated_at=now, run_id=uuid.uuid4().hex,
        ),
        "//bench", uuid.uuid4().hex, now,
    )  # fmt: skip
    attributes = {
        **inner.attributes,
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": "projects/p/subscriptions/evaluated-push",
    }
    message_id = str(time.time_ns())
    return {
        "specversion": "1.0", "type": PUBSUB_PUBLISHED, "id": message_id,
        "source": "//pubsub.googleapis.com/projects/p/topics/interlock-dead-letter",
        "time": format_time(now),
        "data": {"message": {"data": base64.b64encode(inner.data).decode(),
                             "attributes": attributes, "messageId": message_id},
                 "subscription": "projects/p/subscriptions/interlock-dead-letter-push"},
    }  # fmt: skip


def alert(revision: str = "churn-v99") -> Event:
    """An open Cloud Monitoring incident on a churn revision, as the Pub/Sub notification channel
    delivers it (Google's incident JSON in `message.data`, no CloudEvents attributes)."""
    now = datetime.now(UTC)
    incident = {
        "version": "1.2",
        "incident": {
            "incident_id": f"0.bench{uuid.uuid4().hex[:12]}",
            "state": "open",
            "started_at": int(now.timestamp()),
            "ended_at": None,
            "policy_name": "churn: canary 5xx ratio",
            "condition_name": "5xx ratio above 5 %",
            "policy_user_labels": {"interlock-model": "churn"},
            "resource": {
                "type": "cloud_run_revision",
                "labels": {"service_name": "churn", "revision_name": revision},
            },
            "observed_value": "0.2",
            "threshold_value": "0.05",
            "summary": "bench",
        },
    }
    message_id = str(time.time_ns())
    return {
        "specversion": "1.0", "type": PUBSUB_PUBLISHED, "id": message_id,
        "source": "//pubsub.googleapis.com/projects/p/topics/interlock-alerts",
        "time": format_time(now),
        "data": {"message": {"data": base64.b64encode(json.dumps(incident).encode()).decode(),
                             "messageId": message_id},
                 "subscription": "projects/p/subscriptions/interlock-alerts-push"},
    }  # fmt: skip


def tick() -> Event:
    return _structured(Tick(schedule="bench"))


def message(event: Event) -> Message:
    """A structured event of ours as the Pub/Sub message a producer publishes (ce-* attributes)."""
    return binding.cloudevent_message(
        event["type"],
        event["source"],
        event["id"],
        parse_time(event["time"], "time"),
        event["data"],
    )


FIRST: dict[str, Callable[[], Event]] = {
    "on_data_landed": landed,
    "on_model_evaluated": evaluated,
    "on_model_observed": observed,
    "on_request": rollback,
    "on_alert": alert,
    "on_dead_letter": dead_letter,
    "on_tick": tick,
}
