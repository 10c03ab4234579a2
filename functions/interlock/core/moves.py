"""Core layer: the moves on a model's serving state — start a canary, advance it, complete it,
abort it, roll the champion back to the previous version.

Each returns the effects (traffic as a whole block, aliases as sets) and the next state, so
re-applying after a crash converges. Effects are built here, and only here, from the policy.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from interlock.core import smoke
from interlock.core.codec import format_seconds
from interlock.core.decision import Decision
from interlock.core.effects import (
    CANDIDATE,
    CHAMPION,
    PREVIOUS,
    DeployRevision,
    Effect,
    MoveAliases,
    SetTraffic,
    TrafficSplit,
)
from interlock.core.policy import ModelPolicy
from interlock.core.state import Candidate, EvaluationRecord, ModelState, Serving


def deploy(mp: ModelPolicy, version: str) -> DeployRevision:
    """The revision that serves `version`: image, env and port from the policy, labels naming it."""
    return DeployRevision(
        model=mp.name,
        version=version,
        revision=mp.revision_name(version),
        service=mp.service,
        vertex_model=mp.vertex_model,
        image=mp.serving.image,
        env=dict(mp.serving.env),
        port=mp.serving.port,
        labels={"interlock-model": mp.name, "interlock-version": version},
    )


def aliases(
    mp: ModelPolicy, version: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
) -> MoveAliases:
    return MoveAliases(
        model=mp.name, vertex_model=mp.vertex_model, version=version, add=add, remove=remove
    )


def traffic(state: ModelState, mp: ModelPolicy) -> SetTraffic:
    """The whole traffic block the state implies: champion/candidate split, previous kept at 0 %."""
    splits: list[TrafficSplit] = []
    champion, candidate, previous = state.champion, state.candidate, state.previous
    share = mp.canary.steps[candidate.step] if candidate is not None else 0
    if champion is not None:
        splits.append(TrafficSplit(champion.revision, 100 - share, CHAMPION))
    if candidate is not None:
        splits.append(TrafficSplit(candidate.revision, share, CANDIDATE))
    if previous is not None and previous.revision not in {s.revision for s in splits}:
        splits.append(TrafficSplit(previous.revision, 0, PREVIOUS))
    return SetTraffic(model=mp.name, service=mp.service, splits=tuple(splits))


def _without(windows_of: ModelState, revision: str) -> dict[str, tuple[object, ...]]:
    return {r: w for r, w in windows_of.windows.items() if r != revision}


def start(
    state: ModelState,
    mp: ModelPolicy,
    version: str,
    evaluation: EvaluationRecord | None,
    now: datetime,
    reasons: tuple[str, ...],
    manual: bool = False,
) -> Decision:
    """Deploy the version's revision and give it the first canary step (or all, if first)."""
    deployed = deploy(mp, version)
    revision = deployed.revision
    smoked = smoke.check(mp, deployed)
    checks: tuple[Effect, ...] = () if smoked is None else (smoked,)
    rejected = smoke.rejection(state, mp, version, reasons, manual) if smoked else None
    if state.champion is None or mp.canary.steps[0] == 100:
        why = "no champion yet" if state.champion is None else "canary has a single 100 % step"
        cand = Candidate(version, revision, 0, 0, evaluation, manual, now)
        done = complete(
            state.replace(candidate=cand),
            mp,
            now,
            reasons + (f"{why}: v{version} serves 100 %",),
            manual,
        )
        effects = (deployed, *checks, *done.effects)
        return Decision(
            done.kind, done.subject, done.reasons, effects, done.state, manual, rejected
        )
    extra: tuple[str, ...] = ()
    windows = dict(state.windows)
    if state.candidate is not None:
        extra = (f"supersedes candidate v{state.candidate.version} (its revision leaves traffic)",)
        windows.pop(state.candidate.revision, None)
    nxt = state.replace(
        candidate=Candidate(version, revision, 0, 0, evaluation, manual, now),
        windows=windows,
        inconclusive_streak=0,
        rejected_versions=tuple(v for v in state.rejected_versions if v != version),
    )
    effects = (deployed, *checks, traffic(nxt, mp), aliases(mp, version, ("candidate",)))
    step = f"canary v{version}: {mp.canary.steps[0]} % on revision {revision}"
    return Decision("promoted", mp.name, reasons + extra + (step,), effects, nxt, manual, rejected)


def advance(
    state: ModelState,
    mp: ModelPolicy,
    now: datetime,
    reasons: tuple[str, ...],
    manual: bool = False,
) -> Decision:
    cand = state.candidate
    assert cand is not None
    nxt_step = cand.step + 1
    if mp.canary.steps[nxt_step] == 100:
        return complete(state, mp, now, reasons + ("canary complete",), manual)
    moved = state.replace(
        candidate=dataclasses.replace(
            cand, step=nxt_step, healthy_windows=0, awaiting_since=None, approval_timed_out=False
        )
    )
    step = f"advance v{cand.version} to {mp.canary.steps[nxt_step]} %"
    return Decision("advanced", mp.name, reasons + (step,), (traffic(moved, mp),), moved, manual)


def complete(
    state: ModelState,
    mp: ModelPolicy,
    now: datetime,
    reasons: tuple[str, ...],
    manual: bool = False,
) -> Decision:
    """The candidate becomes champion; the old champion stays deployed at 0 % as `previous`."""
    cand = state.candidate
    assert cand is not None
    old = state.champion
    guard_until = now + mp.guard.guard_window
    nxt = state.replace(
        champion=Serving(cand.version, cand.revision, cand.evaluation, now),
        previous=old if old is not None else state.previous,
        candidate=None,
        guard_until=guard_until,
        inconclusive_streak=0,
        windows=_without(state, old.revision) if old is not None else state.windows,
    )
    effects: list[Effect] = [
        traffic(nxt, mp),
        aliases(mp, cand.version, add=("champion",), remove=("candidate",)),
    ]
    if old is not None:
        effects.append(aliases(mp, old.version, add=("previous",)))
    done = f"v{cand.version} is champion (100 %); guard window until {format_seconds(guard_until)}"
    return Decision("promoted", mp.name, reasons + (done,), tuple(effects), nxt, manual)


def abort(
    state: ModelState,
    mp: ModelPolicy,
    now: datetime,
    reasons: tuple[str, ...],
    manual: bool = False,
) -> Decision:
    """A failing canary: all traffic back to the champion, the candidate remembered as rejected."""
    cand = state.candidate
    assert cand is not None
    nxt = state.replace(
        candidate=None,
        windows=_without(state, cand.revision),
        inconclusive_streak=0,
        rejected_versions=(*state.rejected_versions, cand.version)[-20:],
        cooldown_until=now + timedelta(seconds=mp.guard.cooldown_s),
    )
    effects = (traffic(nxt, mp), aliases(mp, cand.version, remove=("candidate",)))
    champion = state.champion.version if state.champion else "?"
    done = f"canary of v{cand.version} aborted: 100 % back to champion v{champion}"
    return Decision("rolled_back", mp.name, reasons + (done,), effects, nxt, manual)


def rollback(
    state: ModelState,
    mp: ModelPolicy,
    now: datetime,
    reasons: tuple[str, ...],
    manual: bool = False,
) -> Decision:
    """Champion → previous: traffic 100 % and the `champion` alias move back."""
    champion, previous = state.champion, state.previous
    assert champion is not None and previous is not None
    nxt = state.replace(
        champion=Serving(previous.version, previous.revision, previous.evaluation, now),
        previous=None,
        candidate=None,
        windows={},
        inconclusive_streak=0,
        guard_until=None,
        rejected_versions=(*state.rejected_versions, champion.version)[-20:],
        rollbacks=state.rollbacks if manual else (*state.rollbacks, now)[-50:],
        cooldown_until=now + timedelta(seconds=mp.guard.cooldown_s),
    )
    effects = (traffic(nxt, mp), aliases(mp, previous.version, ("champion",), ("previous",)))
    done = f"rolled back: v{previous.version} serves 100 % again, v{champion.version} rejected"
    return Decision("rolled_back", mp.name, reasons + (done,), effects, nxt, manual)
