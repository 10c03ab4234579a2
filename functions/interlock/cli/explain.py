"""CLI layer: `interlock explain` — what interlock would decide for an event, and why. No side effects."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from interlock.cli.common import fail, load_policy_or_fail, read_json
from interlock.core import codec
from interlock.core.dispatch import decide
from interlock.core.effects import JoinWindow
from interlock.core.errors import PermanentError
from interlock.core.inbound import parse_document
from interlock.core.keys import idempotency_key
from interlock.core.kinds import BY_PAYLOAD, model_of
from interlock.core.state import ModelState


def _state(path: str | None, model: str | None, ledger: Any = None) -> ModelState:
    if path is None:
        # What the model is now, when a ledger is at hand: explaining an event against nothing
        # serving on a stack where v2 serves would answer a question nobody asked.
        if ledger is None or model is None:
            return ModelState()
        return ledger.load(model).state  # type: ignore[no-any-return]
    doc = read_json(path, "state file")
    if isinstance(doc, dict) and model is not None and model in doc:
        doc = doc[model]
    try:
        return codec.decode(ModelState, doc, "state")
    except PermanentError as err:
        fail(f"state file {path}: {err}")


def summary(state: ModelState, steps: tuple[int, ...] | None = None) -> str:
    parts = []
    if state.champion:
        parts.append(f"champion v{state.champion.version} ({state.champion.revision})")
    if state.candidate:
        share = f" at {steps[state.candidate.step]} %" if steps else ""
        parts.append(f"candidate v{state.candidate.version}{share}")
    if state.previous:
        parts.append(f"previous v{state.previous.version}")
    if state.paused:
        parts.append(f"PAUSED ({state.paused_reason})")
    if state.candidate and state.candidate.awaiting_since:
        parts.append(f"v{state.candidate.version} AWAITING APPROVAL")
    return ", ".join(parts) or "nothing serving yet"


def _target(args: Any) -> tuple[Any, Any]:
    """The local stack's policy and ledger when one runs here, or the ledger --ledger names.
    INTERLOCK_LEDGER alone does not make explain read a ledger: it stays offline unless asked."""
    from interlock.cli.common import open_ledger
    from interlock.cli.target import resolve

    target = resolve(args.project, args.ledger)
    spec = args.ledger or (target.local or {}).get("ledger")
    policy = args.policy or os.environ.get("INTERLOCK_POLICY") or (target.local or {}).get("policy")
    return policy, (open_ledger(spec, target.project) if spec and args.state is None else None)


def explain_command(args: Any) -> int:
    policy_arg, ledger = _target(args)
    policy = load_policy_or_fail(policy_arg)
    doc = read_json(args.event, "event file")
    now = codec.parse_time(args.now, "--now") if args.now else datetime.now(UTC)
    try:
        event = parse_document(doc)
    except PermanentError as err:
        # The functions dead-letter what they cannot parse: say the same, in text and JSON.
        if args.json:
            print(json.dumps({"event": None, "decision": {"kind": "dead_lettered",
                                                          "reasons": [str(err)]}}, indent=2))  # fmt: skip
        else:
            print("decision  dead_lettered (the functions cannot parse it: nothing would change)")
            print(f"why       - {err}")
        return 0
    model = model_of(event.payload)
    state = _state(args.state, model, ledger)
    try:
        decision = decide(event, policy, state, now)
    except PermanentError as err:
        decision = None
        error = str(err)
    if args.json:
        out: dict[str, Any] = {
            "event": {"type": event.type, "id": event.id},
            "key": idempotency_key(event),
        }
        if decision is None:
            out["decision"] = {"kind": "dead_lettered", "reasons": [error]}
        else:
            out["decision"] = {
                "kind": decision.kind, "reasons": list(decision.reasons),
                "effects": [e.describe() for e in decision.effects], "manual": decision.manual,
                "state": codec.encode(decision.state) if decision.state else None,
                # Every effect whole (each DAG conf, each split), and the state on both sides.
                "effect_details": [{"effect": type(e).__name__, **codec.encode(e)} for e in decision.effects],
                "state_before": codec.encode(state) if model is not None else None,
                "state_after": codec.encode(decision.state or state) if model is not None else None,
            }  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    print(f"event     {event.type} (id {event.id})")
    print(f"key       {idempotency_key(event)}")
    if decision is None:
        print("decision  dead_lettered (permanent error: nothing would change)")
        print(f"why       - {error}")
        return 0
    print(f"decision  {decision.kind}{' (manual)' if decision.manual else ''}")
    for i, reason in enumerate(decision.reasons):
        print(f"{'why' if i == 0 else '':<9} - {reason}")
    for i, effect in enumerate(decision.effects, 1):
        print(f"{'effects' if i == 1 else '':<9} {i}. {effect.describe()}")
    if not decision.effects:
        print("effects   none")
    if getattr(args, "ledger", None):
        from interlock.cli.common import open_ledger
        from interlock.cli.status_runs import print_runs_of
        from interlock.cli.target import resolve

        print_runs_of(open_ledger(args.ledger, resolve(args.project, args.ledger).project),
                      decision.effects)  # fmt: skip
    if model is not None:
        steps = policy.model(model).canary.steps
        print(f"state     {summary(state, steps)}")
        if decision.state is not None and decision.state != state:
            print(f"       →  {summary(decision.state, steps)}")
    joins = [e for e in decision.effects if isinstance(e, JoinWindow)]
    if joins and getattr(args, "ledger", None):
        from interlock.cli.common import open_ledger
        from interlock.cli.target import resolve
        from interlock.cli.windows_view import window_lines

        ledger = open_ledger(args.ledger, resolve(args.project, args.ledger).project)
        for e in joins:
            current = ledger.windows(("open", "closing"), e.pipeline.name)
            found = [w for w in current if w.partition == e.partition]
            if not found:
                print(
                    f"window    {e.pipeline.name}/{e.partition}: none open; this object opens one"
                )
            for w in found:
                print("window\n" + "\n".join(window_lines(ledger, policy, w)))
    if decision.kind == "expired" and not args.now:
        kind = BY_PAYLOAD.get(type(event.payload))
        when = (kind.own_time(event.payload) if kind and kind.own_time else None) or event.time
        if when is not None:
            print(
                f"hint      evaluate as of the event's own time with --now {codec.format_time(when)}"
            )
    return 0
