"""Core layer: an operator's hand on the wheel — approve a waiting canary, pause, resume.

Each is a manual request (request id, caller, reason: audited like promote/rollback). Resuming
re-decides at once the evaluation the pause held (`ModelState.held`), through the gate.
"""

from __future__ import annotations

from datetime import datetime

from interlock.core import gate, moves, smoke
from interlock.core.decision import Decision
from interlock.core.events import ApproveRequested, PauseRequested, ResumeRequested
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState


def _who(verb: str, by: str | None, reason: str | None) -> str:
    return f"{verb} by {by or 'an unnamed caller'}" + (f": {reason}" if reason else "")


def approve(req: ApproveRequested, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    cand = state.candidate
    if cand is None or cand.version != req.version:
        serving = f"candidate v{cand.version}" if cand else "no canary in progress"
        return Decision("stale", mp.name, (
            f"v{req.version} is not in canary ({serving}): nothing to approve",
        ), manual=True)  # fmt: skip
    if cand.awaiting_since is None:
        at = f"{mp.canary.steps[cand.step]} %"
        return Decision("stale", mp.name, (
            f"v{req.version} is not awaiting approval (at {at}, "
            f"{cand.healthy_windows} of {mp.canary.hold_windows} healthy windows): approve it when it waits",
        ), manual=True)  # fmt: skip
    why = (
        _who("approved", req.requested_by, req.reason),
        f"awaited approval since {cand.awaiting_since:%Y-%m-%dT%H:%M:%SZ}",
    )
    return moves.advance(state, mp, now, why, manual=True)


def pause(req: PauseRequested, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    who = _who("paused", req.requested_by, req.reason)
    if state.paused and state.paused_by is not None:
        return Decision("stale", mp.name, (f"already {state.paused_reason}",), manual=True)
    rollbacks = (
        "automatic rollbacks hold too (guard.while_paused: hold)"
        if mp.guard.while_paused == "hold"
        else "automatic rollbacks still happen"
    )
    nxt = state.replace(paused=True, paused_reason=who, paused_by=req.requested_by or "unknown")
    return Decision("paused", mp.name, (
        who, f"automatic promotions and advances of {mp.name} hold until `interlock resume`",
        rollbacks,
    ), (), nxt, True)  # fmt: skip


def resume(req: ResumeRequested, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    who = _who("resumed", req.requested_by, req.reason)
    if not state.paused:
        return Decision(
            "stale", mp.name, (f"{mp.name} is not paused: nothing to resume",), manual=True
        )
    was = f"was {state.paused_reason}"
    resumed = state.replace(paused=False, paused_reason=None, paused_by=None)
    held = resumed.held
    if held is None:
        return Decision("resumed", mp.name, (who, was), (), resumed, True)
    redo = gate.gate(held, resumed.replace(held=None), mp, now)
    again = f"re-deciding the evaluation the pause held: v{held.version} (run {held.run_id})"
    state_after = redo.state if redo.state is not None else resumed.replace(held=None)
    return Decision(
        redo.kind if redo.kind != "held" else "resumed",
        mp.name,
        (who, was, again, *redo.reasons),
        redo.effects,
        state_after,
        True,
        smoke.led_by(redo, (who, was, again)),
        redo.judged,
    )
