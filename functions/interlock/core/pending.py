"""Core layer: a pending event — one whose effects stay unavailable past the in-process budget.

The runner parks it in the ledger (and acks the delivery); the tick re-drives it through the same
unit of work until it reaches a final outcome or the policy's `pending.give_up_after` runs out.
This module builds the record, advances it after each failed attempt (backoff from
`retry_first` doubling up to `retry_max`), says when to give up, and turns it back into the
`Inbound` it was parked from. Time is an argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from interlock.core import codec
from interlock.core.binding import Message, cloudevent_message
from interlock.core.errors import PermanentError
from interlock.core.events import Payload
from interlock.core.expiry import human
from interlock.core.inbound import Inbound
from interlock.core.kinds import BY_PAYLOAD, BY_TYPE, model_of
from interlock.core.policy import PendingPolicy
from interlock.core.text import one_line

PAYLOAD_LIMIT = 300_000  # the inbound limit (256 KiB) re-encoded, well inside a Firestore document
REASON_LIMIT = 1024


@dataclass(frozen=True)
class Pending:
    """Everything needed to re-handle the event, and the story of its failed attempts."""

    key: str = codec.spec(max_length=2048, description="the event's idempotency key")
    subject: str = codec.spec(max_length=256, description="model or kind, for status")
    event_id: str = codec.spec(max_length=256)
    event_type: str = codec.spec(max_length=256)
    source: str = codec.spec(max_length=1024)
    kind: str = codec.spec(max_length=256, description="CloudEvents type of the payload's kind")
    payload: str = codec.spec(max_length=PAYLOAD_LIMIT, description="the payload, codec JSON")
    first_failed: datetime = codec.spec(description="when the first attempt failed")
    attempts: int = codec.spec(minimum=1)
    next_attempt: datetime = codec.spec(description="not re-driven before this")
    reason: str = codec.spec(max_length=REASON_LIMIT, description="the last failure")
    time: datetime | None = codec.spec(None, description="the event's CloudEvent time")
    message_id: str | None = codec.spec(None, max_length=256)

    def until(self, policy: PendingPolicy) -> datetime:
        return self.first_failed + timedelta(seconds=policy.give_up_after_s)


def retry_wait(attempts: int, policy: PendingPolicy) -> timedelta:
    """After `attempts` failed attempts: retry_first, doubling, at most retry_max."""
    seconds = policy.retry_first_s * 2 ** min(attempts - 1, 30)
    return timedelta(seconds=min(seconds, policy.retry_max_s))


def park(event: Inbound, key: str, reason: str, now: datetime, policy: PendingPolicy) -> Pending:
    """The record of an event whose first attempt just failed for want of an upstream."""
    kind = BY_PAYLOAD.get(type(event.payload))
    if kind is None:
        raise PermanentError("type", f"interlock cannot park {type(event.payload).__name__}")
    return Pending(
        key=key,
        # The model, or the kind's short name ("data.landed"): what `status` groups it under.
        subject=one_line(model_of(event.payload) or kind.title.split(":")[0], 256),
        event_id=one_line(event.id, 256),
        event_type=one_line(event.type, 256),
        source=one_line(event.source, 1024),
        kind=kind.ce_type,
        payload=json.dumps(codec.encode(event.payload), separators=(",", ":"), sort_keys=True),
        first_failed=now,
        attempts=1,
        next_attempt=now + retry_wait(1, policy),
        reason=one_line(reason, REASON_LIMIT),
        time=event.time,
        message_id=event.message_id,
    )


def advance(pending: Pending, reason: str, now: datetime, policy: PendingPolicy) -> Pending | None:
    """The record after one more failed attempt, or None: past the policy's limit, give up."""
    if now >= pending.until(policy):
        return None
    attempts = pending.attempts + 1
    return replace(
        pending,
        attempts=attempts,
        next_attempt=min(now + retry_wait(attempts, policy), pending.until(policy)),
        reason=one_line(reason, REASON_LIMIT),
    )


def failed_again(
    existing: Pending | None,
    event: Inbound,
    key: str,
    reason: str,
    now: datetime,
    policy: PendingPolicy,
) -> Pending | None:
    """First park, or the next step of an existing record; None when it is time to give up."""
    if existing is None:
        first = park(event, key, reason, now, policy)
        return first if policy.give_up_after_s > 0 else None
    return advance(existing, reason, now, policy)


def inbound_of(pending: Pending) -> Inbound:
    """The event as it was parked: re-handled exactly as its first delivery was."""
    kind = BY_TYPE.get(pending.kind)
    if kind is None:
        raise PermanentError("pending.kind", f"unknown event kind {pending.kind!r}")
    try:
        data = json.loads(pending.payload)
    except ValueError:
        raise PermanentError("pending.payload", "not JSON") from None
    payload: Payload = codec.decode(kind.payload, data, "pending.payload")
    return Inbound(
        id=pending.event_id,
        type=pending.event_type,
        source=pending.source,
        time=pending.time,
        payload=payload,
        message_id=pending.message_id,
    )


def original_of(pending: Pending) -> Message:
    """What goes to the dead-letter topic when interlock gives up: the normalized payload with
    the event's own CloudEvents attributes (the raw delivery was acked long ago)."""
    return cloudevent_message(
        pending.event_type,
        pending.source,
        pending.event_id,
        pending.time or pending.first_failed,
        json.loads(pending.payload),
    )


def story(pending: Pending, reason: str, now: datetime, policy: PendingPolicy) -> str:
    """Why interlock gave up, with the whole story: since when, how often, the last reason."""
    return (
        f"gave up after {pending.attempts + 1} attempts over {human(now - pending.first_failed)} "
        f"(pending since {codec.format_time(pending.first_failed)}, "
        f"pending.give_up_after is {human(timedelta(seconds=policy.give_up_after_s))}); "
        f"last failure: {reason}"
    )
