"""Core layer: the rollback guard for `model.observed`, applied the way Argo Rollouts applies
failureLimit / inconclusiveLimit: each window gets a verdict, then limits decide in one place."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta

from interlock.core import holds, moves
from interlock.core.decision import Decision
from interlock.core.errors import PermanentError
from interlock.core.events import ModelObserved
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState, Verdict, Window


def assess(obs: ModelObserved, mp: ModelPolicy) -> tuple[Verdict, list[str]]:
    """One window's verdict with its reasons. Missing data is inconclusive, never a breach."""
    g = mp.guard
    if obs.sample_count == 0 and not obs.metrics:
        return "inconclusive", ["no traffic in the window"]
    if obs.sample_count < g.min_samples:
        return "inconclusive", [f"sample_count {obs.sample_count} < min_samples {g.min_samples}"]
    rules = g.rules
    if mp.observe is not None:
        # Two sources of windows: the observer's (Cloud Run's request metrics) and pushed ones
        # (quality that needs ground truth). Each is judged on the thresholds it measures.
        rules = tuple(r for r in g.rules if r.metric in obs.metrics)
        if not rules:
            names = ", ".join(sorted({r.metric for r in g.rules}))
            return "inconclusive", [f"the window measures none of the guard's metrics ({names})"]
    missing = [
        r.metric for r in rules
        if r.metric not in obs.metrics or not math.isfinite(obs.metrics[r.metric])
    ]  # fmt: skip
    if missing:
        return "inconclusive", [f"metric {m} missing or not finite" for m in dict.fromkeys(missing)]
    crossed = [
        f"{r.metric} = {obs.metrics[r.metric]:g}, required {r.op} {r.value:g}"
        for r in rules
        if not r.passes(obs.metrics[r.metric])
    ]
    if crossed:
        return "breach", crossed
    # Each value beside its threshold: the decision trail (and `interlock report`) shows both.
    seen = ", ".join(f"{r.metric} = {obs.metrics[r.metric]:g} ({r.op} {r.value:g})" for r in rules)
    return "healthy", [f"healthy: {seen}"]


def _stale(obs: ModelObserved, state: ModelState) -> str | None:
    role = state.role_of(obs.revision)
    if role is None:
        serving = [
            f"{r} {s.revision}"
            for r, s in (("champion", state.champion), ("candidate", state.candidate))
            if s
        ]
        return (
            f"revision {obs.revision} holds no traffic (serving: {', '.join(serving) or 'nothing'})"
        )
    held = state.candidate if role == "candidate" else state.champion
    if held is not None and held.version != obs.version:
        return f"revision {obs.revision} serves v{held.version}, the event says v{obs.version}"
    last = state.last_window_end(obs.revision)
    if last is not None and obs.window_end <= last:
        return f"window ending {obs.window_end:%Y-%m-%dT%H:%M:%SZ} is not after the last seen ({last:%Y-%m-%dT%H:%M:%SZ})"
    return None


def record(
    state: ModelState, revision: str, end: datetime, verdict: Verdict, keep: int
) -> ModelState:
    """Keep the verdict among the revision's last `keep` windows."""
    windows = dict(state.windows)
    windows[revision] = (*windows.get(revision, ()), Window(end, verdict))[-keep:]
    return state.replace(windows=windows)


def _reset_healthy(state: ModelState) -> ModelState:
    c = state.candidate
    if c is None or c.healthy_windows == 0:
        return state
    return state.replace(candidate=dataclasses.replace(c, healthy_windows=0))


def guard(obs: ModelObserved, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    """Hold, Advance, Rollback, Inconclusive, NeedsHuman or Stale for one live window."""
    if obs.window_end <= obs.window_start:
        raise PermanentError("window_end", "must be after window_start")
    subject = obs.model
    stale = _stale(obs, state)
    if stale is not None:
        return Decision("stale", subject, (stale,))
    role = state.role_of(obs.revision)
    g = mp.guard
    verdict, why = assess(obs, mp)
    nxt = record(state, obs.revision, obs.window_end, verdict, max(g.of_windows, 1))
    if state.paused and state.paused_by is None:  # paused by the rollback cap: a human must act
        return Decision(
            "held",
            subject,
            (f"automation paused ({state.paused_reason}); window {verdict}", *why),
            (),
            nxt,
        )
    if verdict == "inconclusive":
        streak = state.inconclusive_streak + 1
        nxt = _reset_healthy(nxt.replace(inconclusive_streak=streak))
        if streak <= g.inconclusive_limit:
            return Decision(
                "inconclusive",
                subject,
                (
                    *why,
                    f"inconclusive ({streak}) <= inconclusive_limit ({g.inconclusive_limit}): holding",
                ),
                (),
                nxt,
            )
        over = f"inconclusive ({streak}) > inconclusive_limit ({g.inconclusive_limit})"
        if g.on_inconclusive == "rollback":
            return roll_back(nxt, mp, role, now, (*why, over))
        return Decision(
            "needs_human", subject, (*why, f"{over}: holding, a human should look"), (), nxt
        )
    nxt = nxt.replace(inconclusive_streak=0)
    if verdict == "breach":
        return breached(nxt, mp, obs.revision, now, tuple(why))
    if role == "candidate" and nxt.candidate is not None:
        c = nxt.candidate
        if obs.sample_count < mp.canary.min_samples:
            return Decision(
                "held",
                subject,
                (
                    *why,
                    f"sample_count {obs.sample_count} < canary.min_samples {mp.canary.min_samples}: not counted",
                ),
                (),
                nxt,
            )
        healthy = c.healthy_windows + 1
        counted = nxt.replace(candidate=dataclasses.replace(c, healthy_windows=healthy))
        held = (
            f"healthy windows at {mp.canary.steps[c.step]} %: {healthy} of {mp.canary.hold_windows}"
        )
        if healthy >= mp.canary.hold_windows:
            hold = holds.operator_hold(state, mp, now)
            if hold is not None:
                nxt_pct = mp.canary.steps[c.step + 1]
                return Decision("held", subject, (
                    *why, held, f"advance to {nxt_pct} % held: {hold}",
                ), (), counted)  # fmt: skip
            waiting = holds.awaiting(counted, mp, now, (*why, held))
            if waiting is not None:
                return waiting
            return moves.advance(counted, mp, now, (*why, held))
        return Decision("held", subject, (*why, held), (), counted)
    return Decision("held", subject, tuple(why), (), nxt)


def breached(
    state: ModelState, mp: ModelPolicy, revision: str, now: datetime, why: tuple[str, ...]
) -> Decision:
    """N of M: a breach just recorded for `revision` rolls back once `breaches` of its last
    `of_windows` windows breached; before that it holds (and the healthy streak restarts)."""
    g = mp.guard
    recent = state.windows.get(revision, ())
    breaches = sum(1 for w in recent if w.verdict == "breach")
    count = f"breaches ({breaches}) in the last {len(recent)} window(s)"
    if breaches >= g.breaches:
        return roll_back(
            state, mp, state.role_of(revision), now,
            (*why, f"{count} >= breaches ({g.breaches}) of {g.of_windows}"),
        )  # fmt: skip
    return Decision(
        "held",
        mp.name,
        (*why, f"{count} < breaches ({g.breaches}): holding"),
        (),
        _reset_healthy(state),
    )


def roll_back(
    state: ModelState, mp: ModelPolicy, role: str | None, now: datetime, why: tuple[str, ...]
) -> Decision:
    """The candidate is always safe to abort; the champion only within the policy's limits.
    While a human paused the model (or a freeze holds), rollbacks go on unless
    `guard.while_paused: hold`."""
    subject, g = mp.name, mp.guard
    hold = holds.operator_hold(state, mp, now)
    if hold is not None and g.while_paused == "hold":
        return Decision(
            "held", subject, (*why, f"{hold}: no automatic rollback (guard.while_paused: hold)"),
            (), state,
        )  # fmt: skip
    if role == "candidate":
        return moves.abort(state, mp, now, why)
    if state.previous is None:
        return Decision(
            "needs_human",
            subject,
            (*why, "no previous version to roll back to: nothing changed"),
            (),
            state,
        )
    if state.guard_until is not None and now > state.guard_until and g.after_window != "rollback":
        ended = f"{state.guard_until:%Y-%m-%dT%H:%M:%SZ}"
        return Decision(
            "needs_human",
            subject,
            (
                *why,
                f"guard window ended {ended}: v{state.previous.version} is no longer an automatic rollback target",
            ),
            (),
            state,
        )
    if state.cooldown_until is not None and now < state.cooldown_until:
        until = f"{state.cooldown_until:%Y-%m-%dT%H:%M:%SZ}"
        return Decision(
            "held", subject, (*why, f"in cooldown until {until}: no automatic rollback"), (), state
        )
    since = now - timedelta(seconds=g.rollback_period_s)
    recent = [t for t in state.rollbacks if t > since]
    if len(recent) >= g.max_rollbacks:
        reason = f"automatic rollbacks ({len(recent)}) reached max_rollbacks ({g.max_rollbacks}) in the period"
        paused = state.replace(paused=True, paused_reason=reason)
        return Decision(
            "needs_human",
            subject,
            (*why, f"{reason}: automation paused, a human must act"),
            (),
            paused,
        )
    return moves.rollback(state, mp, now, why)
