"""DAG helpers: the model.evaluated payload and its CloudEvents envelopes (Pub/Sub binding, HTTP).

Mirrors interlock's contract (events/schemas/model.evaluated.v1.json and the ce-* attributes of
functions/interlock/adapters/pubsub.py) without importing interlock, which DAGs cannot. The ce-id
derives from (model, run) (`chain.evaluated_event_id`): a retried publish re-sends the same event,
not a new one, and the version's labels, set at upload before anything is published, name it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from interlock_dag import chain, rest

EVALUATED_TYPE = "dev.interlock.model.evaluated.v1"
SOURCE = "//interlock/dags/train_on_arrival"
DEFAULT_TOPIC = "interlock-evaluations"


def rfc3339(when: datetime) -> str:
    """As interlock's `core.codec.format_time` writes it."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def evaluated_payload(
    *,
    model: str,
    version: str,
    evaluation: Mapping[str, Any],
    run_id: str,
    input_uri: str,
    artifact_uri: str,
    evaluated_at: datetime,
) -> dict[str, Any]:
    return {
        "model": model,
        "version": str(version),
        "dataset_id": evaluation["dataset_id"],
        "sample_count": int(evaluation["sample_count"]),
        "metrics": {k: float(v) for k, v in evaluation["metrics"].items()},
        "evaluated_at": rfc3339(evaluated_at),
        "run_id": run_id,
        "input_uri": input_uri,
        "artifact_uri": artifact_uri,
    }


def event_id(payload: Mapping[str, Any]) -> str:
    return chain.evaluated_event_id(str(payload["model"]), str(payload["run_id"]))


def attributes(payload: Mapping[str, Any], time: datetime) -> dict[str, str]:
    """The CloudEvents Pub/Sub binding, binary mode (as interlock's `core.binding.cloudevent_attributes`)."""
    return {
        "ce-specversion": "1.0",
        "ce-type": EVALUATED_TYPE,
        "ce-source": SOURCE,
        "ce-id": event_id(payload),
        "ce-time": rfc3339(time),
        "content-type": "application/json",
    }


def message_data(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def structured(payload: Mapping[str, Any], time: datetime) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": EVALUATED_TYPE,
        "source": SOURCE,
        "id": event_id(payload),
        "time": rfc3339(time),
        "datacontenttype": "application/json",
        "data": dict(payload),
    }


def publish_to_emulator(
    host: str, project: str, topic: str, payload: Mapping[str, Any], time: datetime
) -> str:
    """Publish through the Pub/Sub emulator's REST API; the server's message id."""
    path = f"projects/{quote(project)}/topics/{quote(topic)}"
    message = {
        "data": base64.b64encode(message_data(payload)).decode(),
        "attributes": attributes(payload, time),
    }
    _, reply = rest.call("POST", f"http://{host}/v1/{path}:publish", {"messages": [message]})
    ids = reply.get("messageIds") or []
    if not ids:
        raise rest.Unavailable(f"publish to {path}: no message id in {reply}")
    return str(ids[0])


def post_structured(url: str, payload: Mapping[str, Any], time: datetime) -> int:
    """POST a structured CloudEvent (e.g. straight to the function); the HTTP status."""
    status, _ = rest.call(
        "POST", url, structured(payload, time), content_type="application/cloudevents+json"
    )
    return status
