"""Handlers layer: apply one decision through the ports, in order, and record it exactly once.

Flow per event: seen before? → (per-model lease) → load state → decide (pure) → apply effects
→ commit state + outcome under the idempotency key → publish the outcome. Every effect is
idempotent, so a crash anywhere before the commit is repaired by Pub/Sub's redelivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.core.decide import decide, model_of
from interlock.core.decision import Decision, idempotency_key
from interlock.core.effects import DeployRevision, Effect, MoveAliases, SetTraffic, TriggerDag
from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import (
    Outcome,
    PromoteRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.inbound import Inbound
from interlock.core.policy import Policy
from interlock.core.state import ModelState
from interlock.log import log
from interlock.ports import (
    Conflict,
    DagTrigger,
    EventBus,
    Ledger,
    Message,
    ModelRegistry,
    RevisionSpec,
    TrafficRouter,
)

# As long as a function may run (540 s for event-driven gen2): a slow decision never outlives
# its lock on the model; a crashed one frees it at the latest when its time would have run out.
LEASE_TTL_S = 540.0
LEASE_WAIT_S = 20.0
# In-process retries of one effect; well inside a function's 540 s, beyond a typical blip.
RETRY_BUDGET_S = 60.0
_EMPTY_STATE = ModelState()


@dataclass(frozen=True)
class Topics:
    decisions: str
    dead_letter: str


class Ports:
    """The adapters a handler may use; each is built on first use, so a function loads only its own."""

    def __init__(
        self,
        ledger: Callable[[], Ledger],
        bus: Callable[[], EventBus],
        dags: Callable[[], DagTrigger],
        registry: Callable[[], ModelRegistry],
        router: Callable[[], TrafficRouter],
    ) -> None:
        self._factories: dict[str, Callable[[], Any]] = {
            "ledger": ledger, "bus": bus, "dags": dags, "registry": registry, "router": router,
        }  # fmt: skip
        self._built: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._factories[name]()
        return self._built[name]

    @property
    def ledger(self) -> Ledger:
        return self._get("ledger")  # type: ignore[no-any-return]

    @property
    def bus(self) -> EventBus:
        return self._get("bus")  # type: ignore[no-any-return]

    @property
    def dags(self) -> DagTrigger:
        return self._get("dags")  # type: ignore[no-any-return]

    @property
    def registry(self) -> ModelRegistry:
        return self._get("registry")  # type: ignore[no-any-return]

    @property
    def router(self) -> TrafficRouter:
        return self._get("router")  # type: ignore[no-any-return]


def decision_id(key: str) -> str:
    """Deterministic, so a redelivery that re-decides publishes an outcome consumers can dedupe."""
    return "d-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _request_fields(event: Inbound) -> tuple[str | None, str | None]:
    p = event.payload
    if isinstance(p, TriggerRequested | PromoteRequested | RollbackRequested):
        return p.request_id, p.requested_by
    return None, None


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
        self.retry_budget_s = retry_budget_s

    # -- the one public path -------------------------------------------------------------
    def handle(self, event: Inbound, original: Message | None = None) -> Outcome:
        key = idempotency_key(event)
        prior = self.ports.ledger.get(key)
        if prior is not None:
            # Published again in case the first publish was lost after the commit; same ce-id.
            self._publish(prior)
            log("INFO", "duplicate delivery", key=key, kind=prior.kind, event_id=event.id)
            return prior
        model = model_of(event)
        try:
            if model is None:
                outcome = self._stateless(event, key)
            else:
                outcome = self._stateful(event, key, model)
        except PermanentError as err:
            applied = err.applied if isinstance(err, _PartialFailure) else ()
            return self.dead_letter(event.id, event.type, key, err, original, event, applied)
        self._publish(outcome)
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
        request_id, requested_by = _request_fields(event) if event else (None, None)
        outcome = Outcome(
            decision_id=decision_id(key),
            kind="dead_lettered",
            subject=(model_of(event) if event else None) or event_type[:256],
            event_id=event_id[:256],
            event_type=event_type[:256],
            reasons=(str(err)[:2048],),
            effects=applied,
            decided_at=self.clock(),
            request_id=request_id,
            requested_by=requested_by,
        )
        stored = self.ports.ledger.record(key, outcome)
        first = (
            stored.decision_id == outcome.decision_id and stored.decided_at == outcome.decided_at
        )
        if first and republish:
            body = original or Message(data=b"", attributes={})
            attributes = {
                **body.attributes,
                "interlock-reason": str(err)[:1000],
                "interlock-field": err.field[:256],
                "interlock-event-id": event_id[:256],
                "interlock-event-type": event_type[:256],
            }
            self.ports.bus.publish(self.topics.dead_letter, Message(body.data, attributes))
        self._publish(stored)
        log(
            "WARNING",
            "dead-lettered",
            key=key,
            field=err.field,
            reason=err.reason,
            event_id=event_id,
        )
        return stored

    # -- paths ---------------------------------------------------------------------------
    def _stateless(self, event: Inbound, key: str) -> Outcome:
        now = self.clock()
        decision = decide(event, self.policy, _EMPTY_STATE, now)
        effects = self._apply(decision.effects, event, key)
        outcome = self._outcome(event, key, decision, effects, now)
        return self.ports.ledger.record(key, outcome)

    def _stateful(self, event: Inbound, key: str, model: str) -> Outcome:
        self.policy.model(model)  # unknown model: permanent, before taking any lease
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
            decision = decide(event, self.policy, snapshot.state, now)
            effects = self._apply(decision.effects, event, key)
            outcome = self._outcome(event, key, decision, effects, now)
            try:
                ledger.commit(model, decision.state or snapshot.state, snapshot.etag, key, outcome)
            except Conflict:
                raise TransientError(
                    f"model {model} changed during the decision; retrying"
                ) from None
            return outcome
        finally:
            ledger.release(model, holder)

    def _acquire(self, model: str, holder: str) -> None:
        """Wait a little for a busy model (decisions take well under a second) before asking
        Pub/Sub to redeliver: contention resolves here instead of through redelivery backoff."""
        deadline = time.monotonic() + self.lease_wait_s
        pause = 0.05
        while not self.ports.ledger.acquire(model, holder, self.lease_ttl_s, self.clock()):
            if time.monotonic() >= deadline:
                raise TransientError(f"model {model} is busy with another decision; retrying")
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.5)

    def _apply(self, effects: tuple[Effect, ...], event: Inbound, key: str) -> tuple[str, ...]:
        done: list[str] = []
        for effect in effects:
            try:
                done.append(self._retrying(effect))
            except PermanentError as err:
                if done:
                    # Effects already applied stay visible in the dead-letter record.
                    raise _PartialFailure(err, tuple(done)) from err
                raise
        return tuple(done)

    def _retrying(self, effect: Effect) -> str:
        """Retry a transient failure here, with backoff, within a budget; then let Pub/Sub.

        Effects are idempotent, so a retry is safe. Short outages then never reach Pub/Sub,
        whose push delivery slows down for an endpoint that keeps failing.
        """
        deadline = time.monotonic() + self.retry_budget_s
        pause = 0.5
        while True:
            try:
                return self._apply_one(effect)
            except TransientError as err:
                wait = max(pause, err.retry_after_s or 0.0) * (0.8 + 0.4 * random.random())
                if time.monotonic() + wait > deadline:
                    raise
                log(
                    "WARNING",
                    "transient failure, retrying",
                    effect=effect.describe(),
                    reason=err.reason,
                    wait_s=round(wait, 2),
                )
                time.sleep(wait)
                pause = min(pause * 2, 8.0)

    def _apply_one(self, effect: Effect) -> str:
        if isinstance(effect, TriggerDag):
            run = self.ports.dags.trigger(effect.dag_id, effect.run_id, dict(effect.conf))
            state = "created" if run.created else "already existed"
            return f"DAG {run.dag_id} run {run.run_id} {state} ({run.state})"
        mp = self.policy.model(effect.model)
        if isinstance(effect, DeployRevision):
            version = self.ports.registry.get_version(mp.vertex_model, effect.version)
            spec = RevisionSpec(
                name=effect.revision,
                image=mp.serving.image,
                env={**mp.serving.env, "AIP_STORAGE_URI": version.artifact_uri},
                port=mp.serving.port,
                labels={"interlock-model": mp.name, "interlock-version": effect.version},
            )
            self.ports.router.ensure_revision(mp.service, spec)
            return (
                f"revision {effect.revision} ready for v{effect.version} ({version.artifact_uri})"
            )
        if isinstance(effect, SetTraffic):
            verified = self.ports.router.set_traffic(mp.service, effect.splits)
            return "traffic " + ", ".join(s.describe() for s in verified)
        if isinstance(effect, MoveAliases):
            moved = self.ports.registry.merge_aliases(
                mp.vertex_model, effect.version, effect.add, effect.remove
            )
            return f"aliases of v{moved.version}: {', '.join(moved.aliases) or 'none'}"
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    def _outcome(
        self, event: Inbound, key: str, decision: Decision, effects: tuple[str, ...], now: datetime
    ) -> Outcome:
        request_id, requested_by = _request_fields(event)
        return Outcome(
            decision_id=decision_id(key),
            kind=decision.kind,
            subject=decision.subject[:256],
            event_id=event.id[:256],
            event_type=event.type[:256],
            reasons=tuple(r[:2048] for r in decision.reasons),
            effects=effects,
            decided_at=now,
            manual=decision.manual,
            request_id=request_id,
            requested_by=requested_by,
        )

    def _publish(self, outcome: Outcome) -> None:
        from interlock.adapters.pubsub import payload_message

        message = payload_message(outcome, self.source, outcome.decision_id, outcome.decided_at)
        self.ports.bus.publish(self.topics.decisions, message)


class _PartialFailure(PermanentError):
    def __init__(self, err: PermanentError, applied: tuple[str, ...]) -> None:
        self.applied = applied
        super().__init__(err.field, f"{err.reason} (after: {'; '.join(applied)})")


def original_message(attributes: Mapping[str, Any], data: Any) -> Message:
    """The delivery as it came, for the dead-letter topic: Pub/Sub messages are kept verbatim."""
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        msg = data["message"]
        attrs = msg.get("attributes") if isinstance(msg.get("attributes"), dict) else {}
        raw = msg.get("data")
        try:
            body = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
        except (binascii.Error, ValueError):
            body = str(raw).encode()
        return Message(
            body[:1_000_000], {str(k)[:256]: str(v)[:1024] for k, v in list(attrs.items())[:90]}
        )
    if isinstance(data, bytes | bytearray):
        body = bytes(data)
    else:
        body = json.dumps(data, default=str).encode()
    attrs = {f"ce-{k}": str(v)[:1024] for k, v in attributes.items() if k not in ("data",)}
    return Message(body[:1_000_000], attrs)
