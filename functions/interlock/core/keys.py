"""Core layer: every key interlock records under — idempotency, decision and invalid-event keys."""

from __future__ import annotations

import hashlib

from interlock.core.inbound import Inbound
from interlock.core.kinds import kind_of


def idempotency_key(event: Inbound) -> str:
    """Derived from the payload, so a re-publish (new message id) of the same fact is recognised."""
    if event.payload is None:
        return f"event:{event.source}:{event.id}"
    return payload_key(event.payload)


def payload_key(payload: object) -> str:
    """The idempotency key of a payload, whatever delivery carries it."""
    return kind_of(payload).key(payload)


def invalid_key(source: object, event_id: object) -> str:
    """The key of a delivery that could not be parsed: its CloudEvent source and id, as sent."""
    return f"invalid:{str(source)[:256]}:{str(event_id)[:256]}"


def decision_id(key: str) -> str:
    """Deterministic, so a redelivery that re-decides publishes an outcome consumers can dedupe."""
    return "d-" + hashlib.sha256(key.encode()).hexdigest()[:24]
