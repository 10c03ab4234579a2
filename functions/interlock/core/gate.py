"""Core layer: the promotion gate for `model.evaluated`: ordering first, then every rule."""

from __future__ import annotations

import math
from datetime import datetime

from interlock.core import holds, moves
from interlock.core.decision import Decision
from interlock.core.events import ModelEvaluated
from interlock.core.freeze import frozen
from interlock.core.policy import Gate, ModelPolicy
from interlock.core.state import EvaluationRecord, ModelState, version_key


def check(
    ev: ModelEvaluated, champion: EvaluationRecord | None, gate: Gate
) -> tuple[list[str], list[str]]:
    """(failures, notes): every failing rule, not just the first; notes explain skipped rules."""
    failures: list[str] = []
    notes: list[str] = []
    if ev.sample_count < gate.min_samples:
        failures.append(f"sample_count {ev.sample_count} < min_samples {gate.min_samples}")
    comparable = champion is not None
    if champion is not None and champion.dataset_id != ev.dataset_id:
        where = f"evaluated on dataset {ev.dataset_id!r}, champion v{champion.version} on {champion.dataset_id!r}"
        if gate.same_dataset:
            failures.append(f"not comparable: {where} (gate.same_dataset is true)")
            comparable = False
        else:
            notes.append(f"{where}; relative rules applied anyway (gate.same_dataset is false)")
    bad_metrics: set[str] = set()
    for rule in gate.rules:
        value = ev.metrics.get(rule.metric)
        if rule.metric in bad_metrics:
            continue
        if value is None:
            failures.append(f"metric {rule.metric} missing")
            bad_metrics.add(rule.metric)
            continue
        if not math.isfinite(value):
            failures.append(f"metric {rule.metric} is {value} (not a finite number)")
            bad_metrics.add(rule.metric)
            continue
        if not rule.relative:
            if not rule.passes(value):
                failures.append(f"{rule.metric} = {value:g}, required {rule.op} {rule.value:g}")
            continue
        if champion is None:
            notes.append(f"no champion yet: {rule.describe()} not applied")
            continue
        if not comparable:
            continue
        base = champion.metrics.get(rule.metric)
        if base is None:
            notes.append(
                f"champion v{champion.version} has no {rule.metric}: {rule.describe()} not applied"
            )
            continue
        if not rule.passes(value, base):
            failures.append(
                f"{rule.metric} = {value:g}, required {rule.op} {rule.bound(base):g} "
                f"({rule.describe()}; champion v{champion.version} = {base:g})"
            )
    return failures, notes


def _ordering(ev: ModelEvaluated, state: ModelState) -> Decision | None:
    """Stale or duplicate evaluations: a version already serving, in canary, or older."""
    subject, v = ev.model, version_key(ev.version)
    for role, held in (("champion", state.champion), ("candidate", state.candidate)):
        if held is None:
            continue
        if held.version == ev.version:
            record = held.evaluation
            if record is not None and record.run_id == ev.run_id:
                return Decision(
                    "duplicate",
                    subject,
                    (f"evaluation {ev.run_id} of v{ev.version} already decided",),
                )
            return Decision("stale", subject, (f"v{ev.version} is already the {role}",))
        if v < version_key(held.version):
            return Decision(
                "stale", subject, (f"v{ev.version} is older than the {role} v{held.version}",)
            )
    return None


def gate(ev: ModelEvaluated, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    """Promote (first canary step) or Reject with every failing reason; Stale/Duplicate/Held.

    Every verdict carries the evaluation it judged (`Decision.judged`), whoever asked: the
    event itself, a replay, a held evaluation re-decided on resume or by the tick."""
    decided = _verdict(ev, state, mp, now)
    failed = decided.on_smoke_failure  # the rejection if the smoke check fails: same evaluation
    if failed is not None:
        decided = decided.replace(on_smoke_failure=failed.judging(ev))
    return decided.judging(ev)


def _verdict(ev: ModelEvaluated, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    ordered = _ordering(ev, state)
    if ordered is not None:
        return ordered
    subject = ev.model
    if ev.version in state.rejected_versions:
        return Decision("rejected", subject, (
            f"v{ev.version} was rolled back, aborted or failed its smoke check before; "
            f"only a manual promote brings it back",
        ))  # fmt: skip
    if state.paused:
        return Decision("held", subject, (
            f"automation paused ({state.paused_reason}); promote v{ev.version} manually if wanted",
        ), state=holds.keep_held(state, ev))  # fmt: skip
    freeze = frozen(mp, now)
    if freeze is not None:
        return Decision("held", subject, (
            f"{freeze[0]}: v{ev.version} is re-decided when it ends",
        ), state=holds.keep_held(state, ev))  # fmt: skip
    if state.cooldown_until is not None and now < state.cooldown_until:
        until = f"{state.cooldown_until:%Y-%m-%dT%H:%M:%SZ}"
        return Decision(
            "held",
            subject,
            (f"in cooldown until {until} after a rollback; v{ev.version} not promoted",),
            state=holds.keep_held(state, ev),
        )
    champion = state.champion.evaluation if state.champion else None
    failures, notes = check(ev, champion, mp.gate)
    if failures:
        return Decision("rejected", subject, (*failures, *notes, f"v{ev.version} not promoted"))
    # Only the rules that were applied: a relative rule with no champion value is a note, not a pass.
    applied = [
        r.describe()
        for r in mp.gate.rules
        if not r.relative or (champion is not None and r.metric in champion.metrics)
    ]
    passed = f"gate passed: {', '.join(applied) or 'no rule applied'}"
    if state.held is not None and version_key(state.held.version) <= version_key(ev.version):
        state = state.replace(held=None)
    return moves.start(state, mp, ev.version, evaluation_record(ev), now, (passed, *notes))


def evaluation_record(ev: ModelEvaluated) -> EvaluationRecord:
    """What the state keeps of the evaluation a version is promoted on: the baseline for the
    next version's relative rules (non-finite metrics dropped: they compare with nothing)."""
    finite = {k: v for k, v in ev.metrics.items() if math.isfinite(v)}
    return EvaluationRecord(
        version=ev.version,
        dataset_id=ev.dataset_id,
        sample_count=ev.sample_count,
        metrics=finite,
        run_id=ev.run_id,
    )
