"""Core layer: what holds automatic promotions and advances now — a human's pause or a freeze
window — and the approval step of a canary. Rollbacks pass unless `guard.while_paused: hold`."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from interlock.core import moves
from interlock.core.decision import Decision
from interlock.core.events import ModelEvaluated
from interlock.core.freeze import frozen
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState, version_key


def operator_hold(state: ModelState, mp: ModelPolicy, now: datetime) -> str | None:
    """Why automatic moves wait now (paused by a human, or frozen); None when nothing holds."""
    if state.paused and state.paused_by is not None:
        return f"paused ({state.paused_reason})"
    freeze = frozen(mp, now)
    return f"frozen ({freeze[0]})" if freeze is not None else None


def keep_held(state: ModelState, ev: ModelEvaluated) -> ModelState:
    """Remember the newest held evaluation, to re-decide it when the hold ends."""
    if state.held is not None and version_key(state.held.version) > version_key(ev.version):
        return state
    return state.replace(held=ev)


def awaiting(
    state: ModelState, mp: ModelPolicy, now: datetime, why: tuple[str, ...]
) -> Decision | None:
    """The canary has earned its next step, and that step needs a human: wait, time out, or
    None when no approval is needed."""
    cand = state.candidate
    assert cand is not None
    nxt = cand.step + 1
    if not mp.canary.needs_approval(nxt):
        return None
    target = f"{mp.canary.steps[nxt]} %"
    if cand.awaiting_since is None:
        waiting = state.replace(candidate=dataclasses.replace(cand, awaiting_since=now))
        return Decision("awaiting_approval", mp.name, (
            *why,
            f"v{cand.version} awaits approval to go to {target}: "
            f"interlock approve {mp.name} {cand.version} --reason …",
        ), (), waiting)  # fmt: skip
    since = f"{cand.awaiting_since:%Y-%m-%dT%H:%M:%SZ}"
    timeout = mp.canary.approval_timeout_s
    if timeout is not None and now >= cand.awaiting_since + timedelta(seconds=timeout):
        over = f"no approval for {target} since {since} (approval_timeout {timeout}s)"
        if mp.canary.on_approval_timeout == "abort":
            return moves.abort(state, mp, now, (*why, f"{over}: aborting"))
        if not cand.approval_timed_out:
            timed_out = state.replace(candidate=dataclasses.replace(cand, approval_timed_out=True))
            return Decision(
                "needs_human", mp.name, (*why, f"{over}: holding, a human should look"), (),
                timed_out,
            )  # fmt: skip
    return Decision(
        "held", mp.name, (*why, f"awaiting approval to go to {target} since {since}"), (), state
    )


def release(state: ModelState, mp: ModelPolicy, now: datetime) -> Decision | None:
    """The held evaluation re-decided through the gate, once nothing holds it any more (no pause,
    freeze or cooldown); None while something still does, or when nothing is held."""
    held = state.held
    if held is None or state.paused or frozen(mp, now) is not None:
        return None
    if state.cooldown_until is not None and now < state.cooldown_until:
        return None
    from interlock.core import gate, smoke  # gate imports this module

    redo = gate.gate(held, state.replace(held=None), mp, now)
    why = f"hold ended: re-deciding the held evaluation of v{held.version} (run {held.run_id})"
    after = redo.state if redo.state is not None else state.replace(held=None)
    return dataclasses.replace(
        redo, reasons=(why, *redo.reasons), state=after,
        on_smoke_failure=smoke.led_by(redo, (why,)),
    )  # fmt: skip


def approval_timeout(state: ModelState, mp: ModelPolicy, now: datetime) -> Decision | None:
    """A canary waiting for approval past `canary.approval_timeout`, judged by the tick (no live
    window needed): abort, or one `needs_human`; None when nothing is due."""
    cand, timeout = state.candidate, mp.canary.approval_timeout_s
    if cand is None or cand.awaiting_since is None or timeout is None:
        return None
    if now < cand.awaiting_since + timedelta(seconds=timeout) or cand.approval_timed_out:
        return None
    return awaiting(state, mp, now, ("the tick checked the approval wait",))
