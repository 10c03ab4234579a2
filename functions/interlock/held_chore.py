"""Runner layer: the tick chore that re-decides held promotions whose hold has ended.

A pause, a freeze window or a cooldown holds an automatic promotion; the model's state keeps
the newest held evaluation (`ModelState.held`). Once nothing holds it, this chore re-decides it
through the gate (`core.holds.release`) under the model's lease and compare-and-set, records the
outcome under a key naming the state version it was decided on (a twin tick meets a Conflict or
an empty `held`, never a second promotion) and publishes it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

from interlock.core.events import ModelEvaluated
from interlock.core.holds import release
from interlock.core.inbound import Inbound
from interlock.core.kinds import BY_PAYLOAD
from interlock.core.outcome import outcome_of
from interlock.handlers import Handler
from interlock.log import log
from interlock.ports import Conflict


class HeldPromotions:
    name = "held"

    def run(self, handler: Handler, deadline: float) -> Counter[str]:
        done: Counter[str] = Counter()
        for mp in handler.policy.models:
            if time.monotonic() >= deadline:
                done["left"] += 1
                continue
            kind = self._one(handler, mp.name)
            if kind is not None:
                done[kind] += 1
        return done

    def _one(self, handler: Handler, model: str) -> str | None:
        ledger = handler.ports.ledger
        if ledger.load(model).state.held is None:
            return None  # the common case: counted nowhere, the tick's report stays quiet
        holder = uuid.uuid4().hex
        if not ledger.acquire(model, holder, handler.lease_ttl_s, handler.clock()):
            return "busy"
        try:
            snapshot = ledger.load(model)
            now = handler.clock()
            decision = release(snapshot.state, handler.policy.model(model), now)
            if decision is None or snapshot.state.held is None:
                return "holding"
            held = snapshot.state.held
            key = f"released:{model}:{held.version}:{held.run_id}:{snapshot.version}"
            event = Inbound(
                id=key, type=BY_PAYLOAD[ModelEvaluated].ce_type, source="//interlock/tick",
                time=None, payload=held,
            )  # fmt: skip
            applied = handler.applier.apply(decision.effects)
            outcome = outcome_of(event, key, decision, applied, now)
            try:
                ledger.commit(
                    model, decision.state or snapshot.state, snapshot.version, key, outcome
                )
            except Conflict:
                return "busy"
            handler._publish(outcome)  # the handler's one way to publish an outcome
            log("INFO", "decided", key=key, kind=outcome.kind, subject=outcome.subject,
                reasons=list(outcome.reasons), effects=list(outcome.effects))  # fmt: skip
            return outcome.kind
        finally:
            ledger.release(model, holder)
