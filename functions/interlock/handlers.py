"""Runner layer: the unit of work for one event — decided once, applied once, recorded once.

seen before? → (per-model lease) → load state → decide (pure, `core`) → apply effects (`apply`)
→ commit state + outcome under the idempotency key → publish the outcome. Every effect is
idempotent, so a crash anywhere before the commit is repaired by Pub/Sub's redelivery.
An upstream still down after the in-process retries parks the event (`core.pending`): the
delivery is acked with a `pending` outcome and the tick (`interlock.tick`) re-drives it here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from interlock.apply import RETRY_BUDGET_S, EffectApplier, EffectsUnavailable, PartialFailure
from interlock.backoff import Backoff
from interlock.core.binding import Message, dead_letter_message, payload_message
from interlock.core.decision import Decision
from interlock.core.dispatch import decide
from interlock.core.effects import TriggerDag
from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import Outcome
from interlock.core.inbound import Inbound
from interlock.core.keys import idempotency_key
from interlock.core.kinds import model_of
from interlock.core.outcome import dead_letter_outcome, outcome_of, pending_outcome
from interlock.core.pending import failed_again, original_of, story
from interlock.core.policy import Policy
from interlock.core.runs import watch_of
from interlock.core.state import ModelState
from interlock.log import log
from interlock.ports import Conflict, Ports

# As long as a function may run (540 s for event-driven gen2): a slow decision never outlives
# its lock on the model; a crashed one frees it at the latest when its time would have run out.
LEASE_TTL_S = 540.0
LEASE_WAIT_S = 20.0
_EMPTY_STATE = ModelState()


@dataclass(frozen=True)
class Topics:
    decisions: str
    dead_letter: str


class Handler:
    def __init__(
        self,
        policy: Policy,
        ports: Ports,
        topics: Topics,
        clock: Callable[[], datetime],
        source: str = "//interlock/functions",
        lease_ttl_s: float = LEASE_TTL_S,
        lease_wait_s: float = LEASE_WAIT_S,
        retry_budget_s: float = RETRY_BUDGET_S,
    ) -> None:
        self.policy = policy
        self.ports = ports
        self.topics = topics
        self.clock = clock
        self.source = source
        self.lease_ttl_s = lease_ttl_s
        self.lease_wait_s = lease_wait_s
        self.applier = EffectApplier(ports, retry_budget_s)

    def handle(
        self,
        event: Inbound,
        original: Message | None = None,
        *,
        applier: EffectApplier | None = None,
        received_at: datetime | None = None,
    ) -> Outcome:
        """Decide and apply once. `applier` and `received_at` are the tick's, re-driving a
        pending event: a shorter retry budget, and the event's age judged when it was taken."""
        key = idempotency_key(event)
        prior = self.ports.ledger.get(key)
        if prior is not None:
            # Published again in case the first publish was lost after the commit; same ce-id.
            self.publish(prior)
            log("INFO", "duplicate delivery", key=key, kind=prior.kind, event_id=event.id)
            return prior
        model = model_of(event.payload)
        applier = applier or self.applier
        try:
            if model is None:
                outcome = self._stateless(event, key, applier, received_at)
            else:
                outcome = self._stateful(event, key, model, applier, received_at)
        except EffectsUnavailable as err:
            return self.park(event, key, err, original)
        except PermanentError as err:
            applied = err.applied if isinstance(err, PartialFailure) else ()
            return self.dead_letter(event.id, event.type, key, err, original, event, applied)
        self.publish(outcome)
        log("INFO", "decided", key=key, kind=outcome.kind, subject=outcome.subject,
            reasons=list(outcome.reasons), effects=list(outcome.effects))  # fmt: skip
        return outcome

    def dead_letter(
        self,
        event_id: str,
        event_type: str,
        key: str,
        err: PermanentError,
        original: Message | None,
        event: Inbound | None = None,
        applied: tuple[str, ...] = (),
        republish: bool = True,
    ) -> Outcome:
        """Record the failure once, keep the original for replay on the dead-letter topic.

        `republish=False` when the message is already on the dead-letter topic (Pub/Sub moved it
        there after its last delivery attempt): record it, never send it round again.
        """
        outcome = dead_letter_outcome(
            key, err, self.clock(), event_id=event_id, event_type=event_type, event=event,
            applied=applied,
        )  # fmt: skip
        stored = self.ports.ledger.record(key, outcome)
        # Only the delivery whose record won sends the dead letter: a racer finds it recorded.
        if stored is outcome and republish:
            message = dead_letter_message(original, err, event_id, event_type)
            self.ports.bus.publish(self.topics.dead_letter, message)
        self.publish(stored)
        log("WARNING", "dead-lettered", key=key, field=err.field, reason=stored.reasons[0],
            event_id=stored.event_id)  # fmt: skip
        return stored

    def park(
        self, event: Inbound, key: str, err: TransientError, original: Message | None
    ) -> Outcome:
        """Keep the event for the tick, or give up on it once the policy's limit has passed."""
        ledger, policy, now = self.ports.ledger, self.policy.pending, self.clock()
        existing = ledger.pending(key)
        record = failed_again(existing, event, key, err.reason, now, policy)
        if record is None:
            why = (
                story(existing, err.reason, now, policy)
                if existing is not None
                else f"pending.give_up_after is 0s: not kept for the tick; {err.reason}"
            )
            if original is None and existing is not None:
                original = original_of(existing)
            gave_up = PermanentError("pending", why)
            outcome = self.dead_letter(event.id, event.type, key, gave_up, original, event)
            ledger.unpark(key)
            return outcome
        ledger.park(record)
        outcome = pending_outcome(record, policy, now)
        self.publish(outcome)
        log("WARNING", "pending: upstream unavailable, the tick re-drives it", key=key,
            attempts=record.attempts, next_attempt=record.next_attempt.isoformat(),
            reason=record.reason)  # fmt: skip
        return outcome

    def _stateless(
        self, event: Inbound, key: str, applier: EffectApplier, received_at: datetime | None
    ) -> Outcome:
        now = self.clock()
        decision = decide(event, self.policy, _EMPTY_STATE, now, received_at)
        applied = applier.apply(decision.effects)
        self._watch_runs(event, key, decision, now)
        return self.ports.ledger.record(key, outcome_of(event, key, decision, applied, now))

    def _stateful(
        self,
        event: Inbound,
        key: str,
        model: str,
        applier: EffectApplier,
        received_at: datetime | None,
    ) -> Outcome:
        self.policy.model(model)  # an unknown model is permanent: fail before taking any lease
        ledger = self.ports.ledger
        holder = uuid.uuid4().hex
        self._acquire(model, holder)
        try:
            # A concurrent delivery of the same event may have decided while we waited.
            prior = ledger.get(key)
            if prior is not None:
                return prior
            snapshot = ledger.load(model)
            now = self.clock()
            decision = decide(event, self.policy, snapshot.state, now, received_at)
            decision, applied = applier.carry_out(decision)
            outcome = outcome_of(event, key, decision, applied, now)
            try:
                state = decision.state or snapshot.state
                ledger.commit(model, state, snapshot.version, key, outcome)
            except Conflict:
                raise TransientError(
                    f"model {model} changed during the decision; retrying"
                ) from None
            return outcome
        finally:
            self._release(model, holder)

    def _acquire(self, model: str, holder: str) -> None:
        """Wait a little for a busy model (decisions take well under a second) before asking
        Pub/Sub to redeliver: contention resolves here instead of through redelivery backoff."""
        backoff = Backoff(self.lease_wait_s, first_s=0.05, max_s=0.5, jitter=(0.5, 1.5))
        while not self.ports.ledger.acquire(model, holder, self.lease_ttl_s, self.clock()):
            if not backoff.pause():
                raise TransientError(f"model {model} is busy with another decision; retrying")

    def _release(self, model: str, holder: str) -> None:
        try:
            self.ports.ledger.release(model, holder)
        except TransientError as err:
            # The decision (if any) is committed; an unreleased lease expires by its TTL.
            log("WARNING", "lease not released; it expires by its TTL", model=model,
                reason=err.reason)  # fmt: skip

    def _watch_runs(self, event: Inbound, key: str, decision: Decision, now: datetime) -> None:
        """Each run just triggered is read back by the tick until it ends (`interlock.runs_watch`).
        Kept before the outcome is recorded: a crash in between is repaired by the redelivery."""
        for effect in decision.effects:
            if isinstance(effect, TriggerDag):
                self.ports.ledger.watch(watch_of(effect, key, event.id, event.type, now))

    def publish(self, outcome: Outcome) -> None:
        """Publish a recorded outcome on the decisions topic (the handler's, and each chore's)."""
        message = payload_message(outcome, self.source, outcome.decision_id, outcome.decided_at)
        self.ports.bus.publish(self.topics.decisions, message)
