"""core.runs and the run outcomes: what a watched run records, when it is read back, how it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlock.core.effects import TriggerDag
from interlock.core.outcome import run_ended_outcome, run_lost_outcome, run_unwatched_outcome
from interlock.core.policy import PendingPolicy
from interlock.core.runs import (
    CHECK_MAX_S,
    FIRST_CHECK_S,
    FailedTask,
    checked,
    ended,
    run_key,
    watch_limit,
    watch_of,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
URI = "gs://landing/churn/day1.csv#7"


def watched():
    effect = TriggerDag("churn-training", "train", "gcs__r1", {"object": URI, "model": "churn"})
    return watch_of(effect, "gcs:landing/churn/day1.csv#7", "e\n1", "t", T0)


def test_watch_of_records_the_run_and_its_object_first_read_back_after_the_trigger():
    run = watched()
    assert (run.key, run.pipeline, run.object) == (
        run_key("train", "gcs__r1"),
        "churn-training",
        URI,
    )
    assert run.event_id == "e 1"  # upstream text is one line
    assert run.next_check == T0 + timedelta(seconds=FIRST_CHECK_S) and not run.final


def test_checked_reads_a_run_again_after_a_tenth_of_its_age_at_most_ten_minutes():
    young = checked(watched(), "running", T0 + timedelta(minutes=5))
    old = checked(young, "running", T0 + timedelta(hours=5))
    assert young.next_check == T0 + timedelta(minutes=5, seconds=30) and young.checks == 1
    assert old.next_check == T0 + timedelta(hours=5, seconds=CHECK_MAX_S) and old.checks == 2


def test_ended_is_final_with_a_one_line_reason():
    run = ended(watched(), "run_failed", "task x failed\nbadly", T0)
    assert run.final and run.reason == "task x failed badly" and run.finished_at == T0
    assert ended(watched(), "run_succeeded", None, T0).reason is None


def test_watch_limit_is_the_pending_limit_but_never_less_than_a_day():
    assert watch_limit(PendingPolicy(give_up_after_s=3600)) == timedelta(days=1)
    assert watch_limit(PendingPolicy(give_up_after_s=3 * 86400)) == timedelta(days=3)


def test_failed_task_describes_its_try_error_and_note():
    task = FailedTask("preprocess", "failed", 2, "looked at by ops", "BadInput: lacks 3 column(s)")
    assert task.describe() == (
        "task preprocess failed (try 2): BadInput: lacks 3 column(s); note: looked at by ops"
    )
    assert FailedTask("t", "failed").describe() == "task t failed"


def test_run_ended_outcome_says_which_run_ended_how_for_which_object():
    done = run_ended_outcome(
        watched(), "success", (), T0 + timedelta(minutes=3), T0 + timedelta(minutes=4)
    )
    assert done.kind == "run_succeeded" and done.subject == "churn-training"
    assert done.reasons == (
        f"DAG train run gcs__r1 succeeded for {URI} at 2026-12-01T09:03:00Z, 3m after the trigger",
    )
    task = FailedTask("preprocess", "failed", 1, None, "BadInput: lacks columns")
    failed = run_ended_outcome(watched(), "failed", (task,), None, T0 + timedelta(seconds=40))
    assert failed.kind == "run_failed"
    assert failed.reasons[-1] == "task preprocess failed (try 1): BadInput: lacks columns"
    unnamed = run_ended_outcome(watched(), "failed", (), None, T0)
    assert unnamed.reasons[-1].startswith("Airflow named no failed task (marked failed by hand")
    assert done.decision_id == failed.decision_id  # one run, one outcome key


def test_lost_and_unwatched_runs_end_as_run_failed_saying_why():
    lost = run_lost_outcome(watched(), "Airflow has no run 'gcs__r1'", T0)
    assert lost.kind == "run_failed" and "is lost: Airflow no longer has it" in lost.reasons[0]
    late = T0 + timedelta(days=1)
    gone = run_unwatched_outcome(watched(), "queued", timedelta(days=1), late)
    assert gone.kind == "run_failed" and "is still queued 1d after the trigger" in gone.reasons[0]
