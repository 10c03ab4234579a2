"""Core layer: one entry for every inbound event — expiry, then the decision for its kind."""

from __future__ import annotations

from datetime import datetime

from interlock.core import gate, guard, manual, route
from interlock.core.decision import Decision, expiry
from interlock.core.errors import PermanentError
from interlock.core.events import (
    DataLanded,
    ModelEvaluated,
    ModelObserved,
    PromoteRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.inbound import Inbound
from interlock.core.policy import Policy
from interlock.core.state import ModelState


def model_of(event: Inbound) -> str | None:
    """The model whose state the decision reads and writes (None: a stateless decision)."""
    p = event.payload
    if isinstance(p, ModelEvaluated | ModelObserved | PromoteRequested | RollbackRequested):
        return p.model
    return None


def decide(event: Inbound, policy: Policy, state: ModelState, now: datetime) -> Decision:
    """What to do about `event`, given the model's `state` (ignored for stateless kinds)."""
    p = event.payload
    if p is None:
        return Decision("ignored", event.source, (event.ignored or "nothing to do",))
    model = model_of(event)
    if model is not None:
        policy.model(model)  # an unknown model is a permanent error, whatever the event's age
    # A request outside the policy is invalid whatever its age: say so, rather than "expired".
    triggered = manual.trigger(p, policy) if isinstance(p, TriggerRequested) else None
    expired = expiry(event, policy, now)
    if expired is not None:
        return Decision("expired", model or event.type, (expired,))
    if triggered is not None:
        return triggered
    if isinstance(p, DataLanded):
        return route.route(p, policy, event.id, event.time or p.time_created)
    if isinstance(p, ModelEvaluated):
        return gate.gate(p, state, policy.model(p.model), now)
    if isinstance(p, ModelObserved):
        return guard.guard(p, state, policy.model(p.model), now)
    if isinstance(p, PromoteRequested):
        return manual.promote(p, state, policy.model(p.model), now)
    if isinstance(p, RollbackRequested):
        return manual.rollback(p, state, policy.model(p.model), now)
    raise PermanentError("type", f"interlock does not act on {event.type}")
