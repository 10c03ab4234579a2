"""Decision path throughput: parse + validate + decide of each golden delivery, on one core.

Each golden Eventarc delivery in events/samples (the Pub/Sub push as functions-framework hands
it over, and the Cloud Storage notification) goes through `parse_cloudevent` (every check the
functions run) and `decide` against the repo's interlock.yaml, with `now` just after the event so
nothing is judged expired. The baseline is `json.loads` of the same delivery: what the bytes
alone cost to read.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))

from interlock.adapters.policy_yaml import read_policy  # noqa: E402
from interlock.core.binding import payload_message  # noqa: E402
from interlock.core.codec import parse_time  # noqa: E402
from interlock.core.dispatch import decide  # noqa: E402
from interlock.core.events import (  # noqa: E402
    ApproveRequested,
    PauseRequested,
    ReplayRequested,
    ResumeRequested,
)
from interlock.core.inbound import parse_cloudevent  # noqa: E402
from interlock.core.state import ModelState  # noqa: E402

SAMPLES = REPO / "events" / "samples" / "eventarc-pubsub-binary"
KINDS = {  # event kind → its golden delivery
    "data.landed (GCS)": "gcs-notification.finalize.json",
    "model.evaluated": "model.evaluated.json",
    "model.observed": "model.observed.json",
    "model.promote.requested": "model.promote.requested.json",
    "model.rollback.requested": "model.rollback.requested.json",
    "pipeline.trigger.requested": "pipeline.trigger.requested.json",
    "monitoring.incident (alert)": "../monitoring/incident.open.json",
}
# The request kinds with no golden delivery: the rollback request's delivery, carrying each.
REQUESTS = {
    "model.approve.requested": ApproveRequested(
        request_id="req-bench-approve", model="churn", version="2", requested_by="bench"
    ),
    "model.pause.requested": PauseRequested(request_id="req-bench-pause", model="churn"),
    "model.resume.requested": ResumeRequested(request_id="req-bench-resume", model="churn"),
    "event.replay.requested": ReplayRequested(
        request_id="req-bench-replay", replay_of="bench-1", model="churn",
        event=json.dumps(json.loads(
            (REPO / "events" / "samples" / "structured" / "model.evaluated.json").read_text()
        )),
    ),
}  # fmt: skip


def delivery(name: str) -> tuple[dict[str, Any], bytes]:
    """(CloudEvent attributes, raw body) as functions-framework receives a binary delivery."""
    doc = json.loads((SAMPLES / name).read_text())
    headers = doc["headers"]
    attributes = {k[3:].lower(): v for k, v in headers.items() if k.lower().startswith("ce-")}
    attributes["datacontenttype"] = headers.get("Content-Type", "application/json")
    return attributes, json.dumps(doc["body"]).encode()


def carrying(payload: object) -> tuple[dict[str, Any], bytes]:
    """The rollback request's golden delivery with `payload` in it instead (same envelope)."""
    doc = json.loads((SAMPLES / KINDS["model.rollback.requested"]).read_text())
    msg = doc["body"]["message"]
    sent = parse_time(msg["attributes"]["ce-time"], "ce-time")
    inner = payload_message(payload, msg["attributes"]["ce-source"], msg["messageId"], sent)
    msg["attributes"], msg["data"] = inner.attributes, base64.b64encode(inner.data).decode()
    headers = doc["headers"]
    attributes = {k[3:].lower(): v for k, v in headers.items() if k.lower().startswith("ce-")}
    attributes["datacontenttype"] = headers.get("Content-Type", "application/json")
    return attributes, json.dumps(doc["body"]).encode()


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per CPU second of `work` (this process's CPU time: one core, whatever else the
    machine runs) over about `seconds` of it, after a warm-up call."""
    work()
    n, began = 0, time.process_time()
    deadline = began + seconds
    while True:
        for _ in range(200):
            work()
        n += 200
        now = time.process_time()
        if now >= deadline:
            return n / (now - began)


def measure(seconds: float = 0.5) -> list[tuple[str, float, float]]:
    """(kind, parse+decide events/s, json.loads events/s) for every event kind."""
    policy = read_policy(REPO / "interlock.yaml")
    state = ModelState()
    results = []
    deliveries = {kind: delivery(name) for kind, name in KINDS.items()}
    deliveries.update({kind: carrying(payload) for kind, payload in REQUESTS.items()})
    for kind, (attributes, body) in deliveries.items():
        first = parse_cloudevent(attributes, json.loads(body))
        now = first.time + timedelta(seconds=5)

        def path(
            attributes: dict[str, Any] = attributes, body: bytes = body, now: datetime = now
        ) -> object:
            # The SDK decodes the JSON body before the function sees it: that is part of it.
            event = parse_cloudevent(dict(attributes), json.loads(body))
            return decide(event, policy, state, now)

        decision = path()
        kind_of = getattr(decision, "kind", "?")
        if kind_of in ("expired", "ignored"):
            raise RuntimeError(f"{kind}: the sample was {kind_of}, not decided")
        results.append((kind, rate(path, seconds), rate(lambda b=body: json.loads(b), seconds)))
    return results


if __name__ == "__main__":
    for kind, per_s, baseline in measure():
        print(f"{kind:<28} {per_s:>10,.0f} events/s   (json.loads alone {baseline:,.0f}/s)")
