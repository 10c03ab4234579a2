"""Core layer: the runs interlock watches until Airflow says how they ended (issue 12, item 2).

A trigger that was applied leaves a `WatchedRun` in the ledger; the tick's runs chore
(`interlock.runs_watch`) reads each back when it is due and, once the run has ended, records the
`run_succeeded` or `run_failed` outcome (built in `core.outcome`) and marks the record final.
A run Airflow no longer has, or one still unfinished after the watch limit, ends the watch with a
`run_failed` outcome that says so. How often a run is looked at: from the tick after its trigger, every tick while it is young,
then less often as it ages (a tenth of its age, at most `CHECK_MAX_S`). Time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from interlock.core import codec
from interlock.core.effects import TriggerDag
from interlock.core.policy import PendingPolicy
from interlock.core.text import one_line

CHECK_MAX_S = 600.0
FIRST_CHECK_S = 10.0  # no DAG run ends sooner: the tick that triggered it need not look yet
WATCH_AT_LEAST_S = 86400  # a training run may take hours: never stop watching sooner than a day
REASON_LIMIT = 1024


@dataclass(frozen=True)
class FailedTask:
    """A task instance of a failed run, as Airflow reports it (`note`: what a person wrote on
    it, `error`: the exception line of its log, when the adapter could read one)."""

    task_id: str
    state: str
    try_number: int | None = None
    note: str | None = None
    error: str | None = None

    def describe(self) -> str:
        tried = f" (try {self.try_number})" if self.try_number else ""
        text = f"task {self.task_id} {self.state}{tried}"
        if self.error:
            text += f": {self.error}"
        if self.note:
            text += f"; note: {self.note}"
        return one_line(text, REASON_LIMIT)


@dataclass(frozen=True)
class WatchedRun:
    """One DAG run interlock started, and (once known) how it ended."""

    key: str = codec.spec(max_length=1024, description="run:DAG:RUN, also its outcome's key")
    dag_id: str = codec.spec(max_length=256)
    run_id: str = codec.spec(max_length=256)
    pipeline: str = codec.spec(max_length=256)
    object: str = codec.spec(max_length=2048, description="the pinned object the run trains on")
    landing_key: str = codec.spec(max_length=2048, description="the triggering event's key")
    event_id: str = codec.spec(max_length=256)
    event_type: str = codec.spec(max_length=256)
    triggered_at: datetime = codec.spec(description="when the trigger was applied")
    next_check: datetime = codec.spec(description="not read back before this")
    checks: int = codec.spec(0, minimum=0)
    state: str = codec.spec("queued", max_length=256, description="Airflow's state, last seen")
    outcome: str | None = codec.spec(None, max_length=64, description="run_succeeded/run_failed")
    finished_at: datetime | None = codec.spec(None, description="when the outcome was recorded")
    reason: str | None = codec.spec(None, max_length=REASON_LIMIT, description="why it failed")

    @property
    def final(self) -> bool:
        return self.outcome is not None


def run_key(dag_id: str, run_id: str) -> str:
    return f"run:{dag_id}:{run_id}"


def watch_of(
    effect: TriggerDag, landing_key: str, event_id: str, event_type: str, now: datetime
) -> WatchedRun:
    """The record a just-applied trigger leaves; first read back by the next tick."""
    return WatchedRun(
        key=run_key(effect.dag_id, effect.run_id),
        dag_id=effect.dag_id,
        run_id=effect.run_id,
        pipeline=effect.pipeline,
        object=str(effect.conf.get("object") or ""),
        landing_key=landing_key,
        event_id=one_line(event_id, 256),
        event_type=one_line(event_type, 256),
        triggered_at=now,
        next_check=now + timedelta(seconds=FIRST_CHECK_S),
    )


def watch_limit(policy: PendingPolicy) -> timedelta:
    """How long a run is watched: the policy's `pending.give_up_after`, at least a day."""
    return timedelta(seconds=max(policy.give_up_after_s, WATCH_AT_LEAST_S))


def checked(run: WatchedRun, state: str, now: datetime) -> WatchedRun:
    """The record after a read that found the run unfinished (or could not read it)."""
    age = max((now - run.triggered_at).total_seconds(), 0.0)
    wait = timedelta(seconds=min(age / 10, CHECK_MAX_S))
    return replace(run, state=one_line(state, 256), checks=run.checks + 1, next_check=now + wait)


def ended(run: WatchedRun, outcome: str, reason: str | None, now: datetime) -> WatchedRun:
    """The record once its outcome is recorded: final, never read back again."""
    return replace(
        run,
        outcome=outcome,
        finished_at=now,
        checks=run.checks + 1,
        reason=one_line(reason, REASON_LIMIT) if reason else None,
    )
