"""Core layer: the outcome record of a decision — what the ledger keeps and the decisions topic says.

Built here and nowhere else, from values the upstreams may have shaped (error bodies, event ids):
every text is made one bounded printable line (`core.text.one_line`), so a recorded outcome always
passes its own schema and a redelivery of the same event can always be acknowledged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock.core.codec import format_time
from interlock.core.decision import Decision
from interlock.core.effects import DeployRevision, SetTraffic
from interlock.core.errors import PermanentError
from interlock.core.events import DataLanded, ModelEvaluated, Outcome, OutcomeKind, Share, Trained
from interlock.core.expiry import human
from interlock.core.inbound import Inbound
from interlock.core.keys import decision_id
from interlock.core.kinds import model_of, request_fields
from interlock.core.pending import Pending
from interlock.core.policy import PendingPolicy
from interlock.core.runs import FailedTask, WatchedRun
from interlock.core.text import one_line

REASON_LIMIT = 2048
NAME_LIMIT = 256


def outcome_of(
    event: Inbound, key: str, decision: Decision, applied: tuple[str, ...], now: datetime
) -> Outcome:
    """The record of `decision` on `event`; `applied` says what each effect changed."""
    request_id, requested_by = request_fields(event.payload)
    return Outcome(
        decision_id=decision_id(key),
        kind=decision.kind,
        subject=one_line(decision.subject, NAME_LIMIT),
        event_id=one_line(event.id, NAME_LIMIT),
        event_type=one_line(event.type, NAME_LIMIT),
        reasons=tuple(one_line(r, REASON_LIMIT) for r in decision.reasons),
        effects=tuple(one_line(e, REASON_LIMIT) for e in applied),
        decided_at=now,
        manual=decision.manual,
        request_id=request_id,
        requested_by=requested_by,
        trained=trained(decision.judged) if decision.judged else None,
        traffic=shares(decision),
    )


def trained(ev: ModelEvaluated) -> Trained:
    """What an outcome keeps of the evaluation it decided on: the version's lineage."""
    return Trained(
        version=ev.version,
        run_id=ev.run_id,
        dataset_id=ev.dataset_id,
        sample_count=ev.sample_count,
        metrics=ev.metrics,
        evaluated_at=ev.evaluated_at,
        input_uri=ev.input_uri,
        artifact_uri=ev.artifact_uri,
    )


def shares(decision: Decision) -> tuple[Share, ...]:
    """The traffic block the decision set, each revision with the version it serves (from the
    decision's next state, or the revision it deployed); () when it did not move traffic."""
    block = next((e for e in decision.effects if isinstance(e, SetTraffic)), None)
    if block is None:
        return ()
    served: dict[str, str] = {
        e.revision: e.version for e in decision.effects if isinstance(e, DeployRevision)
    }
    state = decision.state
    if state is not None:
        for held in (state.previous, state.champion, state.candidate):
            if held is not None:
                served[held.revision] = held.version
    return tuple(
        Share(served[s.revision], s.revision, s.percent, s.tag)
        for s in block.splits
        if s.revision in served
    )


def dead_letter_outcome(
    key: str,
    err: PermanentError,
    now: datetime,
    *,
    event_id: str,
    event_type: str,
    event: Inbound | None = None,
    applied: tuple[str, ...] = (),
) -> Outcome:
    """The record of an event interlock gave up on: why (the error names the field), and what
    effects were already applied before it failed (they stay visible, nothing is lost)."""
    request_id, requested_by = request_fields(event.payload if event else None)
    subject = (_subject_of(event.payload) if event else None) or event_type
    return Outcome(
        decision_id=decision_id(key),
        kind="dead_lettered",
        subject=one_line(subject, NAME_LIMIT),
        event_id=one_line(event_id, NAME_LIMIT),
        event_type=one_line(event_type, NAME_LIMIT),
        reasons=(one_line(str(err), REASON_LIMIT),),
        effects=tuple(one_line(e, REASON_LIMIT) for e in applied),
        decided_at=now,
        request_id=request_id,
        requested_by=requested_by,
    )


def _subject_of(payload: object) -> str | None:
    """What a dead letter is filed under: its model, or the landed object (which file was lost)."""
    if isinstance(payload, DataLanded):
        return f"gs://{payload.bucket}/{payload.name}#{payload.generation}"
    return model_of(payload)


def pending_outcome(pending: Pending, policy: PendingPolicy, now: datetime) -> Outcome:
    """The `pending` outcome published on the decisions topic (never recorded as final).

    Its id differs per attempt, so consumers that dedupe on ce-id keep each one and the final
    outcome (whose id is the decision's) too.
    """
    until = pending.until(policy)
    return Outcome(
        decision_id=decision_id(f"{pending.key}#pending-{pending.attempts}"),
        kind="pending",
        subject=pending.subject,
        event_id=pending.event_id,
        event_type=pending.event_type,
        reasons=(
            one_line(f"upstream unavailable: {pending.reason}", REASON_LIMIT),
            f"attempt {pending.attempts} failed; pending since {format_time(pending.first_failed)}",
            f"next attempt at {format_time(pending.next_attempt)}; "
            f"gives up at {format_time(until)}",
        ),
        effects=(),
        decided_at=now,
    )


def run_ended_outcome(
    run: WatchedRun,
    state: str,
    failed: tuple[FailedTask, ...],
    end: datetime | None,
    now: datetime,
) -> Outcome:
    """`run_succeeded` or `run_failed`: how a run interlock started ended, as Airflow says.

    The first reason says which run, for which object; a failed run's next reasons name each
    failed task and its error (the reason `status` shows).
    """
    finished = end or now
    took = human(max(finished - run.triggered_at, timedelta(0)))
    succeeded = state == "success"
    first = (
        f"DAG {run.dag_id} run {run.run_id} {'succeeded' if succeeded else 'failed'} for "
        f"{run.object or run.pipeline} at {format_time(finished)}, {took} after the trigger"
    )
    details = () if succeeded else tuple(t.describe() for t in failed)
    if not succeeded and not details:
        details = (
            "Airflow named no failed task (marked failed by hand, or unreadable: see the tick's log)",
        )
    return _run_outcome(run, "run_succeeded" if succeeded else "run_failed", (first, *details), now)


def run_lost_outcome(run: WatchedRun, detail: str, now: datetime) -> Outcome:
    """Airflow no longer has the run (deleted, or its database reset): it will never end."""
    reasons = (
        f"DAG {run.dag_id} run {run.run_id} for {run.object or run.pipeline} is lost: "
        "Airflow no longer has it (deleted, or its database was reset); "
        "trigger the pipeline again to train on the object",
        detail,
    )
    return _run_outcome(run, "run_failed", reasons, now)


def run_unwatched_outcome(run: WatchedRun, state: str, limit: timedelta, now: datetime) -> Outcome:
    """The run is still unfinished past the watch limit: interlock stops watching it."""
    reasons = (
        f"DAG {run.dag_id} run {run.run_id} for {run.object or run.pipeline} is still {state} "
        f"{human(now - run.triggered_at)} after the trigger (watched for at most "
        f"{human(limit)}, pending.give_up_after or a day): interlock stopped watching it",
    )
    return _run_outcome(run, "run_failed", reasons, now)


def _run_outcome(
    run: WatchedRun, kind: OutcomeKind, reasons: tuple[str, ...], now: datetime
) -> Outcome:
    return Outcome(
        decision_id=decision_id(run.key),
        kind=kind,
        subject=one_line(run.pipeline, NAME_LIMIT),
        event_id=one_line(run.event_id, NAME_LIMIT),
        event_type=one_line(run.event_type, NAME_LIMIT),
        reasons=tuple(one_line(r, REASON_LIMIT) for r in reasons),
        effects=(),
        decided_at=now,
    )
