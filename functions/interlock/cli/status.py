"""CLI layer: `interlock status` — what serves, what is in flight, and the decision trail."""

from __future__ import annotations

import os
from typing import Any

from interlock.cli.common import fail, load_policy_or_fail, project
from interlock.cli.explain import summary
from interlock.core.errors import PermanentError


def _ledger(spec: str, project_arg: str | None) -> Any:
    from interlock.bootstrap import ledger_from

    try:
        return ledger_from(spec, project(project_arg), os.environ)
    except PermanentError:
        fail(f"--ledger {spec!r}: expected 'firestore' or 'sqlite:PATH'")


def status_command(args: Any) -> int:
    policy = load_policy_or_fail(args.policy)
    spec = args.ledger or os.environ.get("INTERLOCK_LEDGER", "firestore")
    ledger = _ledger(spec, args.project)
    models = [args.model] if args.model else [m.name for m in policy.models]
    for name in models:
        mp = (
            policy.model(name)
            if name in {m.name for m in policy.models}
            else fail(f"unknown model {name!r}")
        )
        state = ledger.load(name).state
        print(f"{name}: {summary(state, mp.canary.steps)}")
        if state.cooldown_until:
            print(f"  cooldown until {state.cooldown_until:%Y-%m-%d %H:%M:%SZ}")
    _print_pending(ledger, policy, args.model, args.limit)
    if any(p.batch for p in policy.pipelines):
        from interlock.cli.windows_view import print_windows

        print_windows(ledger, policy, limit=args.limit)
    print()
    for outcome in ledger.outcomes(args.model, limit=args.limit):
        manual = " manual" if outcome.manual else ""
        who = f" by {outcome.requested_by}" if outcome.requested_by else ""
        print(
            f"{outcome.decided_at:%Y-%m-%d %H:%M:%S}  {outcome.kind:<13} {outcome.subject:<16}{manual}{who}"
        )
        for reason in outcome.reasons:
            print(f"    - {reason}")
        for effect in outcome.effects:
            print(f"    → {effect}")
    return 0


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
