"""Core layer: the CloudEvents bindings interlock speaks, both directions, in one place.

- Pub/Sub binding (binary): `ce-*` attributes, data = the JSON payload — what we publish and what
  the functions receive inside Google's `messagePublished` CloudEvent.
- Structured JSON (HTTP): one JSON object with the attributes and `data` — what `--to URL`, the
  local stack and event files use.
Inbound parsing (`core.inbound`), outcome publishing, the CLI, the local stack and the demo all
build and unpack messages here, so there is one shape of each.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.core.codec import encode, format_time
from interlock.core.errors import PermanentError
from interlock.core.events import Outcome, outcome_type
from interlock.core.kinds import BY_PAYLOAD
from interlock.core.text import one_line

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
# Pub/Sub's own limits: 10 MB per message, 100 attributes, 1024-byte values (we keep inside).
MAX_KEPT_BYTES = 1_000_000
MAX_KEPT_ATTRIBUTES = 90


@dataclass(frozen=True)
class Message:
    """A Pub/Sub message as interlock handles it: bytes and string attributes."""

    data: bytes
    attributes: Mapping[str, str]


def ce_type_of(payload: object) -> str:
    """The CloudEvents type of a core payload (an inbound event, or an Outcome by its kind)."""
    if isinstance(payload, Outcome):
        return outcome_type(payload.kind)
    kind = BY_PAYLOAD.get(type(payload))
    if kind is None or not kind.own:
        raise TypeError(f"no CloudEvents type of ours for {type(payload).__name__}")
    return kind.ce_type


def cloudevent_attributes(
    ce_type: str, source: str, event_id: str, time: datetime
) -> dict[str, str]:
    """Binary-mode CloudEvent attributes; `content-type` is the binding's datacontenttype."""
    return {
        "ce-specversion": SPECVERSION,
        "ce-type": ce_type,
        "ce-source": source,
        "ce-id": event_id,
        "ce-time": format_time(time),
        "content-type": CONTENT_TYPE,
    }


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def cloudevent_message(
    ce_type: str, source: str, event_id: str, time: datetime, payload: Mapping[str, Any]
) -> Message:
    """Our CloudEvent as a Pub/Sub message: ce-* attributes, data = the JSON payload."""
    return Message(_json_bytes(payload), cloudevent_attributes(ce_type, source, event_id, time))


def payload_message(payload: object, source: str, event_id: str, time: datetime) -> Message:
    """A core payload (event or Outcome) as a Pub/Sub message, its type chosen by the core."""
    return cloudevent_message(ce_type_of(payload), source, event_id, time, encode(payload))


def structured(
    ce_type: str,
    source: str,
    event_id: str,
    time: datetime,
    payload: Mapping[str, Any],
    subject: str | None = None,
) -> dict[str, Any]:
    """A CloudEvent in structured JSON mode (HTTP `application/cloudevents+json`)."""
    event = {
        "specversion": SPECVERSION,
        "type": ce_type,
        "source": source,
        "id": event_id,
        "time": format_time(time),
        "datacontenttype": CONTENT_TYPE,
        "data": dict(payload),
    }
    if subject is not None:
        event["subject"] = subject
    return event


def pubsub_envelope(data: Any) -> Mapping[str, Any] | None:
    """The `message` of a Pub/Sub `messagePublished` CloudEvent's data, or None if it has none."""
    if isinstance(data, Mapping) and isinstance(data.get("message"), Mapping):
        message: Mapping[str, Any] = data["message"]
        return message
    return None


def envelope_attributes(data: Any) -> dict[str, Any]:
    """The Pub/Sub attributes inside a delivery (empty when it has none or they are malformed)."""
    message = pubsub_envelope(data)
    attrs = message.get("attributes") if message is not None else None
    return dict(attrs) if isinstance(attrs, Mapping) else {}


def original_message(attributes: Mapping[str, Any], data: Any) -> Message:
    """The delivery as it came, for the dead-letter topic: Pub/Sub messages are kept verbatim."""
    message = pubsub_envelope(data)
    if message is not None:
        attrs = envelope_attributes(data)
        raw = message.get("data")
        try:
            body = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
        except (binascii.Error, ValueError):
            body = str(raw).encode()
        kept = list(attrs.items())[:MAX_KEPT_ATTRIBUTES]
        return Message(body[:MAX_KEPT_BYTES], {str(k)[:256]: str(v)[:1024] for k, v in kept})
    if isinstance(data, bytes | bytearray):
        body = bytes(data)
    else:
        body = json.dumps(data, default=str).encode()
    attrs = {f"ce-{k}": str(v)[:1024] for k, v in attributes.items() if k != "data"}
    return Message(body[:MAX_KEPT_BYTES], attrs)


# Our marks on a dead letter: why, where, and which event; `on_dead_letter` recognises its own.
DEAD_LETTER_REASON = "interlock-reason"


def dead_letter_message(
    original: Message | None, err: PermanentError, event_id: str, event_type: str
) -> Message:
    """The original delivery, marked with why interlock gave up on it, ready for replay."""
    body = original or Message(data=b"", attributes={})
    attributes = {
        **body.attributes,
        DEAD_LETTER_REASON: one_line(str(err), 1000),
        "interlock-field": one_line(err.field, 256),
        "interlock-event-id": event_id[:256],
        "interlock-event-type": event_type[:256],
    }
    return Message(body.data, attributes)


def is_own_dead_letter(data: Any) -> bool:
    """Whether a dead-letter delivery is one interlock sent itself (recorded when it was sent)."""
    return DEAD_LETTER_REASON in envelope_attributes(data)
