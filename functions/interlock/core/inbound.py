"""Core layer: every inbound delivery shape, normalized into one `Inbound` with a typed payload.

Shapes: Eventarc Pub/Sub (binary or structured CloudEvent), the Pub/Sub emulator's raw push body
(as functions-framework converts it, or raw), Eventarc Cloud Storage direct, a GCS→Pub/Sub
notification (JSON_API_V1 or NONE), and our own events, inside Pub/Sub (CloudEvents Pub/Sub
binding) or posted directly. Anything else is a PermanentError naming the offending field.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.core import codec
from interlock.core.alerts import looks_like_incident, parse_incident
from interlock.core.binding import pubsub_envelope
from interlock.core.errors import PermanentError
from interlock.core.events import (
    GCS_FINALIZED,
    MONITORING_INCIDENT,
    PUBSUB_PUBLISHED,
    DataLanded,
    Payload,
)
from interlock.core.kinds import OWN_TYPES
from interlock.core.values import fast_init

MAX_DATA_BYTES = 256 * 1024
MAX_ATTRIBUTE_BYTES = 1024
MAX_ATTRIBUTES = 100
_UNSAFE_NAME = re.compile(r"(^|/)\.\.(/|$)|\{\{|\{%|\$\(|`")
_DIGITS = re.compile(r"[0-9]{1,20}")
_OBJECT_NAME = codec.Spec(max_length=4096)
_CE_ID = codec.Spec(max_length=256)


@fast_init
@dataclass(frozen=True)
class Inbound:
    """One delivery, normalized. `payload` is None for a delivery we ignore on purpose."""

    id: str
    type: str
    source: str
    time: datetime | None
    payload: Payload | None
    message_id: str | None = None
    ignored: str | None = None


def check_object_name(name: str, path: str) -> str:
    """GCS names are untrusted: refuse ones that climb paths or smuggle templates into DAG conf."""
    codec.check_string(name, path, _OBJECT_NAME)
    if len(name.encode()) > 1024:
        raise PermanentError(path, f"object name is {len(name.encode())} bytes, GCS allows 1024")
    if not name:
        raise PermanentError(path, "object name is empty")
    if _UNSAFE_NAME.search(name):
        raise PermanentError(
            path, f"object name {name[:80]!r} contains '..', '{{{{', '{{%', '$(' or '`'"
        )
    return name


def parse_gcs_object(obj: Any, path: str) -> DataLanded:
    """A Cloud Storage object resource (JSON API v1: generation and size are strings)."""
    if not isinstance(obj, dict):
        raise PermanentError(path, "expected a Cloud Storage object resource (a JSON object)")
    for key in ("bucket", "name", "generation"):
        if key not in obj or obj[key] in (None, ""):
            raise PermanentError(f"{path}.{key}", "required field missing")
    fields = {
        "bucket": obj["bucket"],
        "name": check_object_name(codec.check_string(obj["name"], f"{path}.name"), f"{path}.name"),
        "generation": _int_string(obj["generation"], f"{path}.generation"),
        "size": _int_string(obj["size"], f"{path}.size") if obj.get("size") is not None else None,
        "md5_hash": obj.get("md5Hash"),
        "content_type": obj.get("contentType"),
        "time_created": obj.get("timeCreated"),
    }
    return codec.decode(DataLanded, fields, path)


def _int_string(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise PermanentError(path, f"expected a whole number (as a string), got {str(value)[:40]!r}")


def _json(raw: Any, path: str) -> Any:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_DATA_BYTES:
            raise PermanentError(path, f"payload is {len(raw)} bytes, at most {MAX_DATA_BYTES}")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PermanentError(path, "payload is not UTF-8") from None
    if isinstance(raw, str):
        if len(raw) > MAX_DATA_BYTES:
            raise PermanentError(path, f"payload is {len(raw)} bytes, at most {MAX_DATA_BYTES}")
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PermanentError(path, f"invalid JSON ({exc.msg} at char {exc.pos})") from None
        except RecursionError:
            raise PermanentError(path, "JSON nested too deeply") from None
        except ValueError as exc:  # e.g. an integer beyond Python's digit limit
            raise PermanentError(path, f"invalid JSON ({str(exc)[:80]})") from None
    if raw is None:
        raise PermanentError(path, "required field missing")
    raise PermanentError(path, "expected a JSON object")


def _b64(raw: Any, path: str) -> bytes:
    if not isinstance(raw, str):
        raise PermanentError(path, "expected base64 text")
    if len(raw) > MAX_DATA_BYTES * 4 // 3 + 4:
        raise PermanentError(path, f"payload is over {MAX_DATA_BYTES} bytes")
    try:
        # What b64decode(raw, validate=True) runs, without its copy of the text as bytes first.
        return binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(path, f"invalid base64 ({exc})") from None


def _attributes(raw: Any, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PermanentError(path, "expected an object of string attributes")
    if len(raw) > MAX_ATTRIBUTES:
        raise PermanentError(path, f"{len(raw)} attributes, at most {MAX_ATTRIBUTES}")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise PermanentError(f"{path}.{str(key)[:64]}", "attribute values are strings")
        # A character is at most 4 bytes: only a long value needs encoding to be measured.
        if len(value) * 4 > MAX_ATTRIBUTE_BYTES and len(value.encode()) > MAX_ATTRIBUTE_BYTES:
            raise PermanentError(
                f"{path}.{str(key)[:64]}",
                f"{len(value.encode())} bytes, at most {MAX_ATTRIBUTE_BYTES}",
            )
        out[str(key)] = value
    return out


def _own_event(ce_type: str, data: Any, path: str, type_path: str) -> Payload:
    cls = OWN_TYPES.get(ce_type)
    if cls is None:
        known = ", ".join(sorted(OWN_TYPES))
        raise PermanentError(type_path, f"unknown event type {ce_type[:120]!r} (known: {known})")
    payload: Payload = codec.decode(cls, _json(data, path), path)
    return payload


def _time(raw: Any, path: str) -> datetime | None:
    return None if raw in (None, "") else codec.parse_time(raw, path)


def _from_pubsub(data: Any, ce_id: str, source: str) -> Inbound:
    if isinstance(data, bytes | str):
        data = _json(data, "data")
    msg = pubsub_envelope(data)
    if msg is None:
        raise PermanentError("data.message", "a Pub/Sub CloudEvent carries {'message': {...}}")
    attrs = _attributes(msg.get("attributes"), "message.attributes")
    message_id = str(msg.get("messageId") or msg.get("message_id") or ce_id)
    raw = msg.get("data")
    body = _b64(raw, "message.data") if raw is not None else None
    if "ce-type" in attrs:
        if attrs.get("ce-specversion") != "1.0":
            got = attrs.get("ce-specversion")
            raise PermanentError(
                "message.attributes.ce-specversion", f"expected '1.0', got {got!r}"
            )
        for key in ("ce-id", "ce-source"):
            if not attrs.get(key):
                raise PermanentError(f"message.attributes.{key}", "required attribute missing")
        payload = _own_event(attrs["ce-type"], body, "message.data", "message.attributes.ce-type")
        return Inbound(
            id=codec.check_string(attrs["ce-id"], "message.attributes.ce-id"),
            type=attrs["ce-type"],
            source=attrs["ce-source"],
            time=_time(attrs.get("ce-time"), "message.attributes.ce-time"),
            payload=payload,
            message_id=message_id,
        )
    if "eventType" in attrs:
        return _from_gcs_notification(attrs, body, message_id, source)
    incident = _incident_body(body)
    if incident is not None:
        return _from_incident(incident, message_id, source)
    raise PermanentError(
        "message.attributes",
        "neither an interlock event (ce-type attribute), a GCS notification (eventType) "
        "nor a Cloud Monitoring incident",
    )


def _incident_body(body: bytes | None) -> dict[str, Any] | None:
    """A Cloud Monitoring notification's JSON, if that is what the body is."""
    if body is None or len(body) > MAX_DATA_BYTES:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return doc if looks_like_incident(doc) else None


def _from_incident(doc: dict[str, Any], message_id: str, source: str) -> Inbound:
    parsed = parse_incident(doc)
    if isinstance(parsed, str):
        return Inbound(message_id, MONITORING_INCIDENT, source, None, None, message_id, parsed)
    return Inbound(message_id, MONITORING_INCIDENT, source, parsed.started_at, parsed, message_id)


_GCS_PREFIX = "google.cloud.storage.object.v1."
# Cloud Storage's notification eventType → the CloudEvents type Eventarc gives the same change.
_GCS_TYPES = {
    "OBJECT_FINALIZE": GCS_FINALIZED,
    "OBJECT_DELETE": f"{_GCS_PREFIX}deleted",
    "OBJECT_ARCHIVE": f"{_GCS_PREFIX}archived",
    "OBJECT_METADATA_UPDATE": f"{_GCS_PREFIX}metadataUpdated",
}


def _from_gcs_notification(
    attrs: Mapping[str, str], body: bytes | None, message_id: str, source: str
) -> Inbound:
    event_type = attrs["eventType"]
    when = _time(attrs.get("eventTime"), "message.attributes.eventTime")
    # Each notification under its own CloudEvents type: a delete is never shown as "finalized".
    ce_type = _GCS_TYPES.get(event_type, f"{_GCS_PREFIX}unknown")

    def inbound(landed: DataLanded | None, ignored: str | None = None) -> Inbound:
        return Inbound(message_id, ce_type, source, when, landed, message_id, ignored)

    if event_type != "OBJECT_FINALIZE":
        return inbound(None, f"GCS notification {event_type[:40]!r} is not OBJECT_FINALIZE")
    if attrs.get("payloadFormat", "JSON_API_V1") == "JSON_API_V1" and body is not None:
        landed = parse_gcs_object(_json(body, "message.data"), "message.data")
        checks = (("bucketId", landed.bucket), ("objectId", landed.name),
                  ("objectGeneration", str(landed.generation)))  # fmt: skip
        for attr, value in checks:
            if attr in attrs and attrs[attr] != value:
                raise PermanentError(
                    f"message.attributes.{attr}", f"disagrees with message.data ({value!r})"
                )
    else:
        names = {"bucket": "bucketId", "name": "objectId", "generation": "objectGeneration"}
        obj = {field: attrs.get(attr) for field, attr in names.items()}
        try:
            landed = parse_gcs_object(obj, "message.attributes")
        except PermanentError as err:
            # Name the attribute the sender set, not our field name for it.
            field = err.field.removeprefix("message.attributes.")
            raise PermanentError(
                f"message.attributes.{names.get(field, field)}", err.reason
            ) from None
    return inbound(landed)


def parse_cloudevent(attributes: Mapping[str, Any], data: Any) -> Inbound:
    """Normalize a CloudEvent (attributes as received, data as decoded by the SDK or raw)."""
    spec = attributes.get("specversion")
    if spec != "1.0":
        raise PermanentError(
            "specversion", f"expected the string '1.0', got {json.dumps(spec)[:20]}"
        )
    for key in ("type", "id", "source"):
        if not attributes.get(key):
            raise PermanentError(key, "required CloudEvent attribute missing")
    ce_type = codec.check_string(attributes["type"], "type")
    ce_id = codec.check_string(attributes["id"], "id", _CE_ID)
    source = codec.check_string(attributes["source"], "source")
    when = _time(attributes.get("time"), "time")
    if ce_type == PUBSUB_PUBLISHED:
        return _from_pubsub(data, ce_id, source)
    if ce_type == GCS_FINALIZED:
        landed = parse_gcs_object(_json(data, "data"), "data")
        return Inbound(id=ce_id, type=ce_type, source=source, time=when, payload=landed)
    payload = _own_event(ce_type, data, "data", "type")
    return Inbound(id=ce_id, type=ce_type, source=source, time=when, payload=payload)


def push_body_to_cloudevent(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The emulator's raw push body as functions-framework converts it (attributes, data)."""
    msg = body.get("message")
    if not isinstance(msg, dict):
        raise PermanentError("message", "a Pub/Sub push body carries {'message': {...}}")
    subscription = str(body.get("subscription", ""))
    attributes = {
        "specversion": "1.0",
        "type": PUBSUB_PUBLISHED,
        "source": "//pubsub.googleapis.com/" + subscription.replace("subscriptions", "topics"),
        "id": str(msg.get("messageId") or msg.get("message_id") or "unknown"),
        "time": msg.get("publishTime") or msg.get("publish_time"),
    }
    return attributes, {"message": msg}


def parse_document(doc: Any) -> Inbound:
    """A JSON file as a user keeps it: a structured CloudEvent, or a raw Pub/Sub push body."""
    if not isinstance(doc, dict):
        raise PermanentError("document", "expected a JSON object (a CloudEvent or a push body)")
    if "specversion" in doc:
        attributes = {k: v for k, v in doc.items() if k not in ("data", "data_base64")}
        data = doc.get("data")
        if "data_base64" in doc:
            data = _b64(doc["data_base64"], "data_base64")
        return parse_cloudevent(attributes, data)
    if "message" in doc:
        attributes, data = push_body_to_cloudevent(doc)
        return parse_cloudevent(attributes, data)
    if isinstance(doc.get("headers"), dict) and "body" in doc:
        # A binary-mode HTTP delivery as recorded: ce-* headers are the attributes.
        headers = {str(k).lower(): v for k, v in doc["headers"].items()}
        attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        return parse_cloudevent(attributes, doc["body"])
    raise PermanentError(
        "document",
        "neither a CloudEvent (specversion), a binary delivery (headers + body) nor a push body (message)",
    )
