"""Core layer: what a decision is, and the keys and clocks every decision shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from interlock.core.effects import Effect
from interlock.core.events import (
    DataLanded,
    ModelEvaluated,
    ModelObserved,
    OutcomeKind,
    PromoteRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.inbound import Inbound
from interlock.core.policy import Policy
from interlock.core.state import ModelState

# Kinds after which nothing will change if the same event comes again.
FINAL_KINDS: frozenset[str] = frozenset(
    {"triggered", "promoted", "advanced", "rejected", "rolled_back", "held", "inconclusive",
     "needs_human", "stale", "duplicate", "ignored", "expired", "dead_lettered"}
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """A decision, collected before anything is applied (the handler applies `effects` in order)."""

    kind: OutcomeKind
    subject: str
    reasons: tuple[str, ...]
    effects: tuple[Effect, ...] = ()
    state: ModelState | None = None  # the model's next state; None leaves it unchanged
    manual: bool = False


def idempotency_key(event: Inbound) -> str:
    """Derived from the payload, so a re-publish (new message id) of the same fact is recognised."""
    p = event.payload
    if isinstance(p, DataLanded):
        return f"gcs:{p.bucket}/{p.name}#{p.generation}"
    if isinstance(p, TriggerRequested | PromoteRequested | RollbackRequested):
        return f"request:{p.request_id}"
    if isinstance(p, ModelEvaluated):
        return f"evaluated:{p.model}:{p.version}:{p.run_id}"
    if isinstance(p, ModelObserved):
        return f"observed:{p.model}:{p.revision}:{p.window_end.isoformat()}"
    return f"event:{event.source}:{event.id}"


def age_kind(event: Inbound) -> str | None:
    """Which `max_event_age` applies; None for rollbacks, which are never too old to act on."""
    p = event.payload
    if isinstance(p, RollbackRequested):
        return None
    if isinstance(p, DataLanded):
        return "data_landed"
    if isinstance(p, ModelEvaluated):
        return "model_evaluated"
    if isinstance(p, ModelObserved):
        return "model_observed"
    return "request"


def event_time(event: Inbound) -> datetime | None:
    p = event.payload
    if isinstance(p, ModelObserved):
        return p.window_end
    if isinstance(p, ModelEvaluated):
        return p.evaluated_at
    if event.time is not None:
        return event.time
    if isinstance(p, DataLanded):
        return p.time_created
    return None


def expiry(event: Inbound, policy: Policy, now: datetime) -> str | None:
    """A reason when the event is older than the policy allows, else None."""
    kind = age_kind(event)
    when = event_time(event)
    if kind is None or when is None:
        return None
    limit = policy.max_age_s[kind]
    age = now - when
    if age <= timedelta(seconds=limit):
        return None
    return f"expired: event is {human(age)} old, max_event_age.{kind} is {human(timedelta(seconds=limit))}"


def human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    if s >= 86400 and s % 86400 == 0:
        return f"{s // 86400}d"
    if s >= 3600:
        return f"{s // 3600}h" if s % 3600 == 0 else f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m" if s % 60 == 0 else f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
