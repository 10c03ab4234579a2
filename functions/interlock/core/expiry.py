"""Core layer: how old an event is, and whether the policy still lets interlock act on it."""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock.core.inbound import Inbound
from interlock.core.kinds import BY_PAYLOAD
from interlock.core.policy import Policy


def age_kind(event: Inbound) -> str | None:
    """Which `max_event_age` applies; None when the event is never too old to act on."""
    kind = BY_PAYLOAD.get(type(event.payload))
    return None if kind is None else kind.age


def event_time(event: Inbound) -> datetime | None:
    """The fact's own time where it has one, else the CloudEvent's, else the payload's fallback."""
    kind = BY_PAYLOAD.get(type(event.payload))
    if kind is None:
        return event.time
    own = kind.own_time(event.payload) if kind.own_time else None
    if own is not None:
        return own
    if event.time is not None:
        return event.time
    return kind.fallback_time(event.payload) if kind.fallback_time else None


def expiry(event: Inbound, policy: Policy, now: datetime) -> str | None:
    """A reason when the event is older than the policy allows, else None."""
    kind = age_kind(event)
    when = event_time(event)
    if kind is None or when is None:
        return None
    limit = policy.max_age[kind]
    age = now - when
    if age <= limit:
        return None
    return f"expired: event is {human(age)} old, max_event_age.{kind} is {human(limit)}"


def human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    if s >= 86400 and s % 86400 == 0:
        return f"{s // 86400}d"
    if s >= 3600:
        return f"{s // 3600}h" if s % 3600 == 0 else f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m" if s % 60 == 0 else f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
