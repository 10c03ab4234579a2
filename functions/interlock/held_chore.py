"""Runner layer: the tick chore that re-decides held promotions whose hold has ended (and
times out canaries waiting for an approval past `canary.approval_timeout`).

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
from interlock.core.holds import approval_timeout, release
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
        first = ledger.load(model).state
        waiting = first.candidate is not None and first.candidate.awaiting_since is not None
        if first.held is None and not waiting:
            return None  # the common case: counted nowhere, the tick's report stays quiet
        holder = uuid.uuid4().hex
        if not ledger.acquire(model, holder, handler.lease_ttl_s, handler.clock()):
            return "busy"
        try:
            snapshot = ledger.load(model)
            now, mp, state = handler.clock(), handler.policy.model(model), snapshot.state
            held, cand = state.held, state.candidate
            decision = release(state, mp, now)
            if decision is not None and held is not None:
                key = f"released:{model}:{held.version}:{held.run_id}:{snapshot.version}"
                ce_type, payload = BY_PAYLOAD[ModelEvaluated].ce_type, held
            else:
                decision = approval_timeout(state, mp, now)
                if decision is None or cand is None:
                    return "holding"
                key = f"approval-timeout:{model}:{cand.version}:{snapshot.version}"
                ce_type, payload = "dev.interlock.tick.v1", None
            event = Inbound(
                id=key, type=ce_type, source="//interlock/tick", time=None, payload=payload
            )
            decision, applied = handler.applier.carry_out(decision)
            outcome = outcome_of(event, key, decision, applied, now)
            try:
                ledger.commit(
                    model, decision.state or snapshot.state, snapshot.version, key, outcome
                )
            except Conflict:
                return "busy"
            handler.publish(outcome)
            log("INFO", "decided", key=key, kind=outcome.kind, subject=outcome.subject,
                reasons=list(outcome.reasons), effects=list(outcome.effects))  # fmt: skip
            return outcome.kind
        finally:
            ledger.release(model, holder)
