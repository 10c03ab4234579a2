"""CLI layer: `interlock status` — what serves, what is in flight, and the decision trail."""

from __future__ import annotations

import os
from typing import Any

from interlock.cli.common import fail, load_policy_or_fail, open_ledger
from interlock.cli.explain import summary
from interlock.cli.target import resolve


def status_command(args: Any) -> int:
    target = resolve(args.project, args.ledger)
    policy = load_policy_or_fail(
        args.policy or os.environ.get("INTERLOCK_POLICY") or (target.local or {}).get("policy")
    )
    ledger = open_ledger(target.ledger or "firestore", target.project)
    if getattr(args, "json", False) or getattr(args, "watch", None):
        from interlock.cli.status_watch import models_command

        return models_command(args, policy, ledger)
    models = [args.model] if args.model else [m.name for m in policy.models]
    for name in models:
        mp = (
            policy.model(name)
            if name in {m.name for m in policy.models}
            else fail(f"unknown model {name!r}")
        )
        state = ledger.load(name).state
        paused = f" — PAUSED: {state.paused_reason}" if state.paused else ""
        print(f"{name}: {summary(state, mp.canary.steps)}{paused}{_attention(ledger, name)}")
        if state.cooldown_until:
            print(f"  cooldown until {state.cooldown_until:%Y-%m-%d %H:%M:%SZ}")
    _print_pending(ledger, policy, args.model, args.limit)
    if any(p.batch for p in policy.pipelines):
        from interlock.cli.windows_view import print_windows

        print_windows(ledger, policy, limit=args.limit)
    if not args.model:
        from interlock.cli.status_runs import print_pipelines

        print_pipelines(ledger, policy, args.limit)
    print()
    for outcome in ledger.outcomes(args.model, limit=args.limit):
        manual = " manual" if outcome.manual else ""
        who = f" by {outcome.requested_by}" if outcome.requested_by else ""
        print(
            f"{outcome.decided_at:%Y-%m-%d %H:%M:%SZ}  {outcome.kind:<13} {outcome.subject:<16}{manual}{who}"
        )
        for reason in outcome.reasons:
            print(f"    - {reason}")
        for effect in outcome.effects:
            print(f"    → {effect}")
    return 0


def _attention(ledger: Any, model: str) -> str:
    """The header's marker when the model's last decision asks for a person."""
    last = ledger.outcomes(model, limit=1)
    if last and last[0].kind == "needs_human":
        reason = last[0].reasons[-1] if last[0].reasons else ""
        return f" — NEEDS HUMAN: {reason}"
    return ""


def _print_pending(ledger: Any, policy: Any, model: str | None, limit: int) -> None:
    """Events parked while an upstream is down: since when, how often tried, until when."""
    parked = [p for p in ledger.parked(limit=limit) if model is None or p.subject == model]
    if not parked:
        return
    print(f"\npending ({len(parked)}{'+' if len(parked) == limit else ''}), re-driven by the tick:")
    for p in parked:
        until = p.until(policy.pending)
        print(f"  {p.subject:<16} {p.key}")
        print(
            f"    since {p.first_failed:%Y-%m-%d %H:%M:%SZ}, {p.attempts} attempt(s), "
            f"next {p.next_attempt:%H:%M:%SZ}, gives up {until:%Y-%m-%d %H:%M:%SZ}"
        )
        print(f"    last failure: {p.reason}")
