"""CLI layer: build, validate and publish our events — by hand, or as promote/rollback/trigger requests.

Validation is the same as the functions' (the core types) plus the published JSON Schema, so an
event the CLI accepts is one the functions accept.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import typing
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interlock import topics
from interlock.cli.common import (
    caller,
    fail,
    load_policy_or_fail,
    open_ledger,
    policy_path,
    read_json,
)
from interlock.cli.target import Target, resolve
from interlock.core import binding, codec
from interlock.core.errors import InterlockError, PermanentError
from interlock.core.events import PREFIX
from interlock.core.keys import invalid_key, payload_key
from interlock.core.kinds import BY_TYPE, OWN_TYPES
from interlock.core.text import one_line

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

    cls = OWN_TYPES[ce_type]
    if isinstance(payload, dict) and dataclasses.is_dataclass(cls):
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in payload
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:  # every one at once, not the first of six
            fail(
                f"invalid {ce_type.removeprefix(PREFIX)} event: required field(s) missing: "
                f"{', '.join(missing)} (set each with --field KEY=VALUE)"
            )
    try:
        value: Any = codec.decode(OWN_TYPES[ce_type], payload)
        contract.validate(ce_type, codec.encode(value))
    except PermanentError as err:
        fail(f"invalid {ce_type.removeprefix(PREFIX)} event: {err}")
    return value


@dataclass(frozen=True)
class Sent:
    """What went out: enough to find its decision (keys in the ledger, ids on the outcome)."""

    keys: tuple[str, ...]
    event_ids: tuple[str, ...]
    id: str


def send(
    ce_type: str,
    value: Any,
    *,
    to: str | None,
    target: Target,
    topic: str | None,
    echo: bool = True,
) -> Sent:
    now = datetime.now(UTC)
    event_id = uuid.uuid4().hex
    source = f"//interlock/cli/{caller(None) or 'unknown'}"
    keys = (payload_key(value), invalid_key(source, event_id))
    to = to or (None if topic else target.function_url(BY_TYPE[ce_type].function))
    if to:
        from interlock.adapters.function_http import post_cloudevent

        event = binding.structured(ce_type, source, event_id, now, codec.encode(value))
        try:
            status = post_cloudevent(to, event)
        except InterlockError as err:
            fail(f"--to {getattr(err, 'reason', err)}")
        if echo:
            print(f"posted {ce_type} id={event_id} to {to}: HTTP {status}{target.where}")
        return Sent(keys, (event_id,), event_id)
    from interlock.adapters.pubsub import PubSubEventBus

    if not target.project:
        fail(
            "no project: pass --project or set INTERLOCK_PROJECT (or start a local stack with "
            "`interlock dev up`, or set PUBSUB_EMULATOR_HOST for an emulator)"
        )
    path = topics.path(target.project, topic or topics.topic_for(ce_type))
    try:
        message_id = PubSubEventBus(target.project).publish(
            path, binding.payload_message(value, source, event_id, now)
        )
    except Exception as err:
        fail(f"publish to {path} failed: {one_line(err, 500)}")
    if echo:
        print(f"published {ce_type} id={event_id} to {path} (message {message_id}){target.where}")
    return Sent(keys, (event_id, str(message_id)), event_id)


def settle(args: Any, sent: Sent, target: Target, extra: dict[str, Any]) -> int:
    """Unless --no-wait: wait for the decision, print it, exit non-zero when nothing applied."""
    from interlock.cli import wait

    if getattr(args, "no_wait", False):
        return 0
    if target.ledger is None:
        print(
            "the decision is not known: no ledger to read it from (pass --ledger, set "
            "INTERLOCK_LEDGER, or --no-wait to send and not wait)",
            file=sys.stderr,
        )
        return wait.EXIT_UNDECIDED
    ledger = open_ledger(target.ledger, target.project)
    try:
        outcome, pending = wait.wait(ledger, sent.keys, sent.event_ids, args.timeout,
                                     quiet=args.json)  # fmt: skip
    except InterlockError as err:
        fail(f"cannot read the decision from ledger {target.ledger}: {getattr(err, 'reason', err)}")
    return wait.report(outcome, pending, args.timeout, args.json, {**extra, "event_id": sent.id})


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
    target = resolve(args.project, args.ledger)
    value = validated(ce_type, payload)
    if not args.allow_expired:
        refuse_expired(ce_type, value, args.policy)
    sent = send(ce_type, value, to=args.to, target=target, topic=args.topic, echo=not args.json)
    return settle(args, sent, target, {"type": ce_type})


def refuse_expired(ce_type: str, value: Any, policy_arg: str | None) -> None:
    """Refuse, before it goes out, an event the functions would only record as `expired`."""
    from interlock.core.expiry import expiry
    from interlock.core.inbound import Inbound

    if policy_arg is None and not os.path.exists(policy_path(None)):
        return  # no policy here to know its max_event_age by: the functions judge it
    policy = load_policy_or_fail(policy_arg)
    now = datetime.now(UTC)
    reason = expiry(Inbound("cli", ce_type, "cli", now, value), policy, now)
    if reason is not None:
        fail(
            f"not published: {reason} (policy {policy_path(policy_arg)}), so the functions "
            "would only record it as expired; give it a recent time, or pass --allow-expired "
            "to publish it anyway"
        )


def request_id() -> str:
    return f"req-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def request_command(kind: str, args: Any) -> int:
    base = {"request_id": request_id(), "requested_by": caller(args.by)}
    if args.reason:
        base["reason"] = args.reason
    if kind == "promote":
        ce_type = SHORT_TYPES["model.promote.requested"]
        payload = {**base, "model": args.model, "version": version_of(args.version),
                   "force": args.force}  # fmt: skip
    elif kind == "rollback":
        ce_type = SHORT_TYPES["model.rollback.requested"]
        payload = {**base, "model": args.model}
    elif kind == "close":
        ce_type = SHORT_TYPES["pipeline.close.requested"]
        payload = {**base, "pipeline": args.pipeline}
        if args.partition is not None:
            payload["partition"] = args.partition
    else:
        if args.object.startswith("gs://") and "#" not in args.object:
            fail(
                f"{one_line(args.object, 200)}: add the object's generation after '#', e.g. "
                f"{one_line(args.object, 200)}#1712345678901234 (`gcloud storage objects describe "
                "URI --format='value(generation)'` prints it)"
            )
        ce_type = SHORT_TYPES["pipeline.trigger.requested"]
        payload = {**base, "pipeline": args.pipeline, "object_uri": args.object}
    target = resolve(args.project, args.ledger)
    value = validated(ce_type, payload)
    sent = send(ce_type, value, to=args.to, target=target, topic=args.topic, echo=not args.json)
    if not args.json:
        print(
            f"request id {payload['request_id']} (re-publishing it is recognised, never applied twice)"
        )
    return settle(args, sent, target, {"type": ce_type, "request_id": payload["request_id"]})


def version_of(text: str) -> str:
    """`7` and `v7` (as the README and `status` write versions) name the same version."""
    return text[1:] if len(text) > 1 and text[0] in "vV" and text[1:].isdigit() else text
