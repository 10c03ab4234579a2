"""Core layer: one entry for every inbound event — expiry, then the decision for its kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from interlock.core import alerts, gate, guard, manual, operator, replay, route
from interlock.core.decision import Decision
from interlock.core.errors import PermanentError
from interlock.core.events import (
    AlertIncident,
    ApproveRequested,
    CloseRequested,
    DataLanded,
    ModelEvaluated,
    ModelObserved,
    PauseRequested,
    PromoteRequested,
    ReplayRequested,
    ResumeRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.expiry import expiry
from interlock.core.inbound import Inbound
from interlock.core.kinds import model_of
from interlock.core.policy import ModelPolicy, Policy
from interlock.core.state import ModelState

# The decision of each stateful kind: (payload, state, model policy, now) → Decision.
STATEFUL: dict[type, Callable[[Any, ModelState, ModelPolicy, datetime], Decision]] = {
    ModelEvaluated: gate.gate,
    ModelObserved: guard.guard,
    PromoteRequested: manual.promote,
    RollbackRequested: manual.rollback,
    AlertIncident: alerts.decide,
    ApproveRequested: operator.approve,
    PauseRequested: operator.pause,
    ResumeRequested: operator.resume,
}


def decide(
    event: Inbound,
    policy: Policy,
    state: ModelState,
    now: datetime,
    received_at: datetime | None = None,
) -> Decision:
    """What to do about `event`, given the model's `state` (ignored for stateless kinds).

    `received_at`: when interlock first took the event, for a pending one re-driven later. Its
    age is judged then: it was in time, and the outage that delayed it was not the sender's.
    """
    p = event.payload
    if p is None:
        return Decision("ignored", event.source, (event.ignored or "nothing to do",))
    model = model_of(p)
    # An unknown model is a permanent error whatever the event's age; so is a request outside
    # the policy: say so, rather than "expired".
    mp = policy.model(model) if model is not None else None
    triggered = manual.trigger(p, policy) if isinstance(p, TriggerRequested) else None
    expired = expiry(event, policy, received_at or now)
    if expired is not None:
        return Decision("expired", model or event.type, (expired,))
    if triggered is not None:
        return triggered
    if isinstance(p, ReplayRequested):
        return replay.replay(p, policy, state, now, decide)
    if isinstance(p, CloseRequested):
        return manual.close(p, policy, now)
    if isinstance(p, DataLanded):
        return route.route(p, policy, event.id, now)
    decide_kind = STATEFUL.get(type(p))
    if decide_kind is None or mp is None:
        raise PermanentError("type", f"interlock does not act on {event.type}")
    return decide_kind(p, state, mp, now)
