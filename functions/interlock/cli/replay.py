"""CLI layer: `interlock replay` — list dead letters with their reason and field, and re-run the
chosen ones on purpose: each becomes an `event.replay.requested` with a new request id naming the
original (decided anew, recorded, never a silent duplicate); a pulled one is then acked.

Dead letters come from the dead-letter subscription (`--subscription`, default
interlock-dead-letter-hold) or a file of messages (`--file`: a JSON list of
{message_id, data (base64), attributes}, the shape a pull returns)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from interlock.cli.common import caller, fail, read_json
from interlock.cli.publish import SHORT_TYPES, request_id, send, settle, validated
from interlock.cli.target import Target, resolve
from interlock.core.binding import DEAD_LETTER_REASON
from interlock.core.errors import PermanentError
from interlock.core.inbound import parse_document
from interlock.core.kinds import model_of
from interlock.core.text import one_line

HOLD = "interlock-dead-letter-hold"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    data: bytes
    attributes: dict[str, str]
    ack_id: str | None = None

    def push_body(self) -> dict[str, Any]:
        """The message as Pub/Sub would push it: what the functions parse, byte for byte."""
        return {
            "message": {
                "data": base64.b64encode(self.data).decode(),
                "attributes": self.attributes,
                "messageId": self.message_id,
            },
            "subscription": f"projects/-/subscriptions/{HOLD}",
        }

    @property
    def event_id(self) -> str:
        return (
            self.attributes.get("interlock-event-id")
            or self.attributes.get("ce-id")
            or self.message_id
        )


def add_parser(sub: Any, publishing: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="list dead letters; re-run chosen ones on purpose (new request id, linked)",
        description="List dead letters with their reason and field; with --pick, re-run those.",
    )
    p.add_argument(
        "--subscription", default=HOLD, help=f"dead-letter subscription (default {HOLD})"
    )
    p.add_argument("--file", help="a JSON list of dead-letter messages instead of a subscription")
    p.add_argument("--max", type=int, default=50, help="messages to look at (default 50)")
    p.add_argument(
        "--pick", action="append", metavar="MESSAGE_ID", help="re-run this one (repeatable)"
    )
    p.add_argument("--reason", help="why (recorded in the decision trail)")
    p.add_argument("--by", help="who asks (default: $INTERLOCK_USER or $USER)")
    publishing(p)


def _from_file(path: str) -> list[DeadLetter]:
    doc = read_json(path, "dead-letter file")
    if not isinstance(doc, list):
        fail(f"dead-letter file {path}: expected a JSON list of messages")
    out = []
    for i, m in enumerate(doc):
        try:
            out.append(
                DeadLetter(str(m["message_id"]), base64.b64decode(m["data"]), dict(m["attributes"]))
            )
        except (KeyError, TypeError, ValueError) as err:
            fail(
                f"dead-letter file {path}: message [{i}] needs message_id, data (base64), attributes ({err})"
            )
    return out


def _pull(args: Any, target: Target) -> tuple[list[DeadLetter], Any, str]:
    from google.cloud import pubsub_v1

    if not target.project:
        fail("no project: pass --project or set INTERLOCK_PROJECT (or read dead letters --file)")
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(target.project, args.subscription)
    try:
        got = subscriber.pull(subscription=path, max_messages=args.max, timeout=30)
    except Exception as err:
        fail(f"pull from {path} failed: {one_line(str(err), 300)}")
    letters = [
        DeadLetter(r.message.message_id, r.message.data, dict(r.message.attributes), r.ack_id)
        for r in got.received_messages
    ]
    return letters, subscriber, path


def replay_command(args: Any) -> int:
    subscriber = path = None
    target = resolve(args.project, getattr(args, "ledger", None))
    if args.file:
        letters = _from_file(args.file)
    else:
        letters, subscriber, path = _pull(args, target)
    picked = set(args.pick or ())
    unknown = picked - {d.message_id for d in letters}
    if unknown:
        fail(
            f"--pick {', '.join(sorted(unknown))}: not among the {len(letters)} dead letter(s) read"
        )
    code = 0
    for d in letters:
        reason = d.attributes.get(DEAD_LETTER_REASON, "?")
        field = d.attributes.get("interlock-field", "?")
        kind = d.attributes.get("ce-type") or d.attributes.get("interlock-event-type", "?")
        if d.message_id not in picked:
            print(
                f"{d.message_id}  {kind}  event {d.event_id}\n    field {field}: {one_line(reason, 300)}"
            )
            continue
        code = max(code, _replay(d, args, target))
    if subscriber is not None:
        done = [d.ack_id for d in letters if d.message_id in picked and d.ack_id]
        if done:
            subscriber.acknowledge(subscription=path, ack_ids=done)
        others = [d.ack_id for d in letters if d.message_id not in picked and d.ack_id]
        if others:  # listed, not chosen: back to the subscription at once, for the next look
            subscriber.modify_ack_deadline(
                subscription=path, ack_ids=others, ack_deadline_seconds=0
            )
    if not letters:
        print("no dead letters")
    return code


def _replay(d: DeadLetter, args: Any, target: Target) -> int:
    """Re-publish one dead letter as a replay request; its decision as an exit code."""
    body = d.push_body()
    try:
        model = model_of(parse_document(body).payload)
    except PermanentError:
        model = None  # unreadable: replayed as is, dead-lettered again with its reason
    ce_type = SHORT_TYPES["event.replay.requested"]
    payload: dict[str, Any] = {
        "request_id": request_id(),
        "replay_of": d.event_id,
        "event": json.dumps(body, separators=(",", ":")),
        "model": model,
        "requested_by": caller(args.by),
    }
    if args.reason:
        payload["reason"] = args.reason
    sent = send(ce_type, validated(ce_type, payload), to=args.to, target=target,
                topic=args.topic, echo=not args.json)  # fmt: skip
    if not args.json:
        print(
            f"replayed {d.message_id} as request {payload['request_id']} (replay of event {d.event_id})"
        )
    extra = {"type": ce_type, "request_id": payload["request_id"], "replay_of": d.event_id}
    return settle(args, sent, target, extra)
