"""CLI layer: build, validate and publish our events — by hand, or as promote/rollback/trigger requests.

Validation is the same as the functions' (the core types) plus the published JSON Schema, so an
event the CLI accepts is one the functions accept.
"""

from __future__ import annotations

import json
import typing
import uuid
from datetime import UTC, datetime
from typing import Any

from interlock import topics
from interlock.cli.common import caller, fail, project, read_json
from interlock.core import binding, codec
from interlock.core.errors import InterlockError, PermanentError
from interlock.core.events import PREFIX
from interlock.core.kinds import OWN_TYPES

SHORT_TYPES = {t.removeprefix(PREFIX).removesuffix(".v1"): t for t in OWN_TYPES}


def resolve_type(name: str) -> str:
    if name in OWN_TYPES:
        return name
    if name in SHORT_TYPES:
        return SHORT_TYPES[name]
    fail(f"unknown event type {name!r}; one of: {', '.join(sorted(SHORT_TYPES))}")


def _coerce(cls: type, key: str, raw: str) -> Any:
    """`version=3` stays the string "3" where the type says string; numbers and booleans parse."""
    hints = typing.get_type_hints(cls)
    top = key.split(".", 1)[0]
    if top not in hints:
        fail(f"--field {key}: {cls.__name__} has no field {top!r} (fields: {', '.join(hints)})")
    if hints[top] in (str, str | None) and "." not in key:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def fields_to_payload(cls: type, fields: list[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for item in fields:
        if "=" not in item:
            fail(f"--field {item!r}: expected KEY=VALUE (nested: metrics.auc=0.91)")
        key, raw = item.split("=", 1)
        target = payload
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                fail(f"--field {key}: {part} is not an object")
        target[parts[-1]] = _coerce(cls, key, raw)
    return payload


def validated(ce_type: str, payload: Any) -> Any:
    """The payload as the functions will parse it; the schema checks the same from outside."""
    from interlock import contract

    try:
        value: Any = codec.decode(OWN_TYPES[ce_type], payload)
        contract.validate(ce_type, codec.encode(value))
    except PermanentError as err:
        fail(f"invalid {ce_type.removeprefix(PREFIX)} event: {err}")
    return value


def send(
    ce_type: str,
    value: Any,
    *,
    to: str | None,
    project_arg: str | None,
    topic: str | None,
    echo: bool = True,
) -> None:
    now = datetime.now(UTC)
    event_id = uuid.uuid4().hex
    source = f"//interlock/cli/{caller(None) or 'unknown'}"
    if to:
        from interlock.adapters.function_http import post_cloudevent

        event = binding.structured(ce_type, source, event_id, now, codec.encode(value))
        try:
            status = post_cloudevent(to, event)
        except InterlockError as err:
            fail(f"--to {getattr(err, 'reason', err)}")
        if echo:
            print(f"posted {ce_type} id={event_id} to {to}: HTTP {status}")
        return
    from interlock.adapters.pubsub import PubSubEventBus

    proj = project(project_arg)
    path = topics.path(proj, topic or topics.topic_for(ce_type))
    try:
        message_id = PubSubEventBus(proj).publish(
            path, binding.payload_message(value, source, event_id, now)
        )
    except Exception as err:
        fail(f"publish to {path} failed: {err}")
    if echo:
        print(f"published {ce_type} id={event_id} to {path} (message {message_id})")


def publish_command(args: Any) -> int:
    if args.file:
        doc = read_json(args.file, "event file")
        if isinstance(doc, dict) and "specversion" in doc:
            ce_type = resolve_type(str(doc.get("type")))
            payload = doc.get("data")
        else:
            if not args.type:
                fail("--file holds a bare payload: name its TYPE too (e.g. model.evaluated)")
            ce_type, payload = resolve_type(args.type), doc
        if args.field:
            fail("use either --file or --field, not both")
    else:
        if not args.type:
            fail("name the event TYPE (e.g. model.evaluated) or pass --file")
        ce_type = resolve_type(args.type)
        payload = fields_to_payload(OWN_TYPES[ce_type], args.field or [])
    send(
        ce_type, validated(ce_type, payload), to=args.to, project_arg=args.project, topic=args.topic
    )
    return 0


def request_id() -> str:
    return f"req-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def request_command(kind: str, args: Any) -> int:
    base = {"request_id": request_id(), "requested_by": caller(args.by)}
    if args.reason:
        base["reason"] = args.reason
    if kind == "promote":
        ce_type = SHORT_TYPES["model.promote.requested"]
        payload = {**base, "model": args.model, "version": args.version, "force": args.force}
    elif kind == "rollback":
        ce_type = SHORT_TYPES["model.rollback.requested"]
        payload = {**base, "model": args.model}
    elif kind == "close":
        ce_type = SHORT_TYPES["pipeline.close.requested"]
        payload = {**base, "pipeline": args.pipeline}
        if args.partition is not None:
            payload["partition"] = args.partition
    else:
        ce_type = SHORT_TYPES["pipeline.trigger.requested"]
        payload = {**base, "pipeline": args.pipeline, "object_uri": args.object}
    send(
        ce_type, validated(ce_type, payload), to=args.to, project_arg=args.project, topic=args.topic
    )
    print(
        f"request id {payload['request_id']} (re-publishing it is recognised, never applied twice)"
    )
    return 0
