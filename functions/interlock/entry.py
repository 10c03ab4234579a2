"""Entry layer: a functions-framework CloudEvent in, an ack (return) or a retry (raise) out."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from interlock.core.binding import envelope_attributes, is_own_dead_letter, original_message
from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import AlertIncident, Outcome
from interlock.core.inbound import Inbound, parse_cloudevent
from interlock.core.keys import idempotency_key, invalid_key
from interlock.core.kinds import KINDS, Kind, accepted_by, kind_of
from interlock.handlers import Handler
from interlock.log import log
from interlock.tick import Ticker


def handle_delivery(function: str, cloud_event: Any, get_handler: Callable[[], Handler]) -> Outcome:
    """Parse, check the event belongs to this function, handle. Transient errors propagate."""
    handler = get_handler()
    event = _accepted(function, cloud_event, handler)
    if isinstance(event, Outcome):
        return event
    event = _ours(event, handler)
    original = original_message(dict(cloud_event.get_attributes()), cloud_event.data)
    try:
        return handler.handle(event, original)
    except TransientError as err:
        log("WARNING", "transient failure, Pub/Sub will redeliver", function=function,
            event_id=event.id, reason=err.reason)  # fmt: skip
        raise


def handle_tick(cloud_event: Any, get_ticker: Callable[[], Ticker]) -> Counter[str] | Outcome:
    """Re-drive the due pending events. A tick that is not one is dead-lettered like any event.

    Always acked: a tick that could not run (the ledger unreachable) is worth nothing later,
    the next one comes within a minute.
    """
    ticker = get_ticker()
    event = _accepted("on_tick", cloud_event, ticker.handler)
    if isinstance(event, Outcome):
        return event
    try:
        return ticker.tick()
    except TransientError as err:
        log("WARNING", "tick skipped; the next one retries", reason=err.reason)
        return Counter(skipped=1)


def _accepted(function: str, cloud_event: Any, handler: Handler) -> Inbound | Outcome:
    """The event, or the dead-letter record of a delivery this function cannot take."""
    attributes = dict(cloud_event.get_attributes())
    data = cloud_event.data
    parsed: Inbound | None = None
    try:
        parsed = parse_cloudevent(attributes, data)
        _check_accepted(function, parsed)
    except PermanentError as err:
        event_id = str(attributes.get("id", "unknown"))
        key = invalid_key(attributes.get("source", ""), event_id)
        original = original_message(attributes, data)
        # A well-formed event sent to the wrong function is still filed under its model.
        return handler.dead_letter(
            event_id, str(attributes.get("type", "unknown")), key, err, original, event=parsed
        )
    return parsed


def _ours(event: Inbound, handler: Handler) -> Inbound:
    """An alert incident labelled for a model the policy does not have is someone else's:
    acked and recorded as ignored (a shared notification channel is normal), never dead-lettered."""
    p = event.payload
    if isinstance(p, AlertIncident) and p.model not in {m.name for m in handler.policy.models}:
        why = f"incident {p.incident_id} is for model {p.model!r}, not in the policy"
        return dataclasses.replace(event, payload=None, ignored=why)
    return event


def _check_accepted(function: str, event: Inbound) -> None:
    if event.payload is None:
        return
    accepted = accepted_by(function)
    if not isinstance(event.payload, accepted):
        from interlock import topics

        names = ", ".join(_short(k) for k in KINDS if k.payload in accepted)
        kind = kind_of(event.payload)
        right = kind.function
        topic = next((t for t, f in topics.SUBSCRIBERS.items() if f == right), "?")
        raise PermanentError(
            "type",
            f"{function} takes {names}, not {_short(kind)}: send it to {right} (topic {topic})",
        )


def _short(kind: Kind) -> str:
    return kind.title.split(":", 1)[0]  # "model.evaluated", as events/README.md names them


def handle_dead_letter(cloud_event: Any, get_handler: Callable[[], Handler]) -> Outcome | None:
    """Whatever reaches the dead-letter topic gets a final ledger state, so nothing is lost.

    Our own dead letters (attribute `interlock-reason`) were recorded when they were sent.
    Messages Pub/Sub moved there after its last delivery attempt were never decided: they are
    recorded now as dead-lettered, with the attempt count, ready to replay.
    """
    attributes = dict(cloud_event.get_attributes())
    data = cloud_event.data
    if is_own_dead_letter(data):
        return None
    handler = get_handler()
    inner = envelope_attributes(data)
    attempts = inner.get("CloudPubSubDeadLetterSourceDeliveryCount", "?")
    source = inner.get("CloudPubSubDeadLetterSourceSubscription", "a subscription")
    reason = f"gave up after {attempts} delivery attempts from {source}; after fixing the cause, send a new request (see docs/operations.md)"
    event: Inbound | None
    try:
        event = parse_cloudevent(attributes, data)
        key, event_id, event_type = idempotency_key(event), event.id, event.type
    except PermanentError as invalid:
        event = None
        event_id = str(attributes.get("id", "unknown"))
        key, event_type = invalid_key(attributes.get("source", ""), event_id), "unknown"
        reason = f"{reason} ({invalid})"
    exhausted = PermanentError("delivery", reason)
    return handler.dead_letter(event_id, event_type, key, exhausted, None, event, republish=False)
