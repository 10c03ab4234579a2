"""Test target for functions-framework: record each CloudEvent, or always fail to force retries."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import functions_framework
from cloudevents.http import CloudEvent

OUT = Path(os.environ.get("ECHO_OUT", "echo.jsonl"))


def _append(event: CloudEvent, handler: str) -> None:
    line = {
        "handler": handler,
        "type": event["type"],
        "id": event["id"],
        "source": event["source"],
        "data": event.get_data(),
        "received_at": time.time(),
    }
    with OUT.open("a") as f:
        f.write(json.dumps(line) + "\n")


@functions_framework.cloud_event
def echo(event: CloudEvent) -> None:
    _append(event, "echo")


@functions_framework.cloud_event
def reject(event: CloudEvent) -> None:
    _append(event, "reject")
    # Raising makes functions-framework answer 500, so Pub/Sub redelivers (then dead-letters).
    raise RuntimeError("rejected on purpose")
