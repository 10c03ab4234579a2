"""Contract: every `Ledger` (memory fake, SQLite, Firestore on its emulator) behaves the same."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlock.adapters.ledger_firestore import FirestoreLedger
from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.core import batch
from interlock.core.batch import Member
from interlock.core.events import Outcome
from interlock.core.pending import Pending
from interlock.core.runs import WatchedRun, ended, run_key
from interlock.core.state import (
    Candidate,
    EvaluationRecord,
    ModelState,
    Serving,
    Window,
)
from interlock.ports import Conflict, Ledger, Snapshot
from tests.fakes.ledger import FakeLedger

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def pending(key: str, due_in_s: float, attempts: int = 1) -> Pending:
    return Pending(
        key=key, subject="churn", event_id=f"e-{key}", event_type="dev.interlock.model.evaluated.v1",
        source="//test", kind="dev.interlock.model.evaluated.v1", payload='{"model":"churn"}',
        first_failed=T0, attempts=attempts, next_attempt=T0 + timedelta(seconds=due_in_s),
        reason="Cloud Run 503", time=T0 - timedelta(seconds=1), message_id="m-1",
    )  # fmt: skip


def watched(run_id: str, triggered_s: float, due_in_s: float = 0) -> WatchedRun:
    at = T0 + timedelta(seconds=triggered_s)
    return WatchedRun(
        key=run_key("train", run_id), dag_id="train", run_id=run_id, pipeline="churn-training",
        object=f"gs://landing/{run_id}.csv#1", landing_key=f"gcs:landing/{run_id}.csv#1",
        event_id=f"e-{run_id}", event_type="google.cloud.storage.object.v1.finalized",
        triggered_at=at, next_check=at + timedelta(seconds=due_in_s),
    )  # fmt: skip


def outcome(n: int, subject: str = "churn", at: datetime = T0, kind: str = "held") -> Outcome:
    return Outcome(
        decision_id=f"d-{n}",
        kind=kind,  # type: ignore[arg-type]
        subject=subject,
        event_id=f"e-{n}",
        event_type="dev.interlock.model.observed.v1",
        reasons=(f"reason {n}",),
        effects=(),
        decided_at=at,
    )


def rich_state() -> ModelState:
    evaluation = EvaluationRecord(
        version="7",
        dataset_id="holdout-2026-02",
        sample_count=12000,
        metrics={"auc": 0.91, "latency_p95_ms": 88.5},
        run_id="run-7",
    )
    return ModelState(
        champion=Serving("7", "churn-v7", evaluation, since=T0 - timedelta(days=3)),
        previous=Serving("5", "churn-v5", None, since=T0 - timedelta(days=30)),
        candidate=Candidate(
            "8", "churn-v8", step=1, healthy_windows=2, evaluation=evaluation, since=T0
        ),
        windows={
            "churn-v7": (Window(T0 - timedelta(minutes=5), "healthy"),),
            "churn-v8": (
                Window(T0 - timedelta(minutes=10), "inconclusive"),
                Window(T0 - timedelta(minutes=5, microseconds=1), "breach"),
            ),
        },
        inconclusive_streak=1,
        rollbacks=(T0 - timedelta(hours=6), T0 - timedelta(hours=1, microseconds=7)),
        cooldown_until=T0 + timedelta(minutes=30),
        guard_until=T0 + timedelta(hours=2),
        paused=True,
        paused_reason="3 automatic rollbacks in 24h",
        rejected_versions=("6",),
    )


@pytest.fixture(params=["memory", "sqlite", "firestore"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        yield FakeLedger()
    elif request.param == "sqlite":
        yield SqliteLedger(tmp_path / "ledger.sqlite")
    else:
        project = request.getfixturevalue("firestore_project")
        yield FirestoreLedger(project, prefix="contract_")


def commit_until_done(
    ledger: Ledger, model: str, key: str, change: Callable[[ModelState], ModelState]
) -> int:
    """The handler's loop: load, decide, commit; a Conflict means reload and decide again."""
    conflicts = 0
    while True:
        snap = ledger.load(model)
        try:
            ledger.commit(model, change(snap.state), snap.version, key, outcome(0, model))
            return conflicts
        except Conflict:
            conflicts += 1


def bump(state: ModelState) -> ModelState:
    return state.replace(inconclusive_streak=state.inconclusive_streak + 1)


class TestLedgerContract:
    def test_get_returns_none_when_a_key_was_never_recorded(self, ledger: Ledger) -> None:
        assert ledger.get("nope") is None

    def test_record_keeps_the_first_outcome_when_a_key_is_recorded_twice(
        self, ledger: Ledger
    ) -> None:
        first, second = outcome(1), outcome(2)
        assert ledger.record("k/1#3", first) is first  # this call's record won
        again = ledger.record("k/1#3", second)
        assert again == first and again is not second  # a racer learns it lost
        assert ledger.get("k/1#3") == first
        assert ledger.outcomes() == [first]

    def test_load_returns_an_empty_state_at_version_zero_when_the_model_is_new(
        self, ledger: Ledger
    ) -> None:
        assert ledger.load("churn") == Snapshot(ModelState(), 0)

    def test_state_round_trips_when_a_rich_state_is_committed(self, ledger: Ledger) -> None:
        state = rich_state()
        ledger.commit("churn", state, 0, "key-1", outcome(1))
        snap = ledger.load("churn")
        assert snap.state == state
        assert snap.version == 1
        assert ledger.get("key-1") == outcome(1)
        ledger.commit("churn", ModelState(), 1, "key-2", outcome(2))
        assert ledger.load("churn").state == ModelState()
        assert ledger.load("churn").version == 2

    def test_second_commit_conflicts_when_two_writers_hold_the_same_version(
        self, ledger: Ledger
    ) -> None:
        ledger.commit("churn", ModelState(inconclusive_streak=1), 0, "a", outcome(1))
        version = ledger.load("churn").version
        ledger.commit("churn", ModelState(inconclusive_streak=2), version, "b", outcome(2))
        with pytest.raises(Conflict):
            ledger.commit("churn", ModelState(inconclusive_streak=3), version, "c", outcome(3))
        assert ledger.load("churn") == Snapshot(ModelState(inconclusive_streak=2), 2)
        assert ledger.get("c") is None  # the loser's decision is not recorded either

    def test_first_commit_conflicts_when_two_writers_create_the_same_model(
        self, ledger: Ledger
    ) -> None:
        ledger.commit("churn", ModelState(inconclusive_streak=1), 0, "a", outcome(1))
        with pytest.raises(Conflict):
            ledger.commit("churn", ModelState(inconclusive_streak=9), 0, "b", outcome(2))
        assert ledger.load("churn").state.inconclusive_streak == 1

    def test_commit_conflicts_when_its_key_was_already_recorded(self, ledger: Ledger) -> None:
        ledger.record("key-1", outcome(1))
        with pytest.raises(Conflict):
            ledger.commit("churn", ModelState(inconclusive_streak=1), 0, "key-1", outcome(2))
        assert ledger.load("churn").version == 0
        assert ledger.get("key-1") == outcome(1)

    def test_exactly_one_commit_wins_when_threads_race_on_one_version(self, ledger: Ledger) -> None:
        writers = 4
        barrier = threading.Barrier(writers)

        def attempt(n: int) -> bool:
            barrier.wait()
            try:
                ledger.commit("churn", ModelState(inconclusive_streak=n), 0, f"k{n}", outcome(n))
            except Conflict:
                return False
            return True

        with ThreadPoolExecutor(writers) as pool:
            won = list(pool.map(attempt, range(writers)))
        assert sum(won) == 1
        winner = won.index(True)
        assert ledger.load("churn").state.inconclusive_streak == winner
        assert [o.decision_id for o in ledger.outcomes()] == [f"d-{winner}"]

    def test_no_update_is_lost_when_threads_commit_concurrently(self, ledger: Ledger) -> None:
        writers, each = 4, 5

        def work(n: int) -> int:
            return sum(commit_until_done(ledger, "churn", f"w{n}-{i}", bump) for i in range(each))

        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(work, range(writers)))
        snap = ledger.load("churn")
        assert snap.state.inconclusive_streak == writers * each
        assert snap.version == writers * each
        assert len(ledger.outcomes(limit=100)) == writers * each

    def test_acquire_refuses_another_holder_when_the_lease_is_unexpired(
        self, ledger: Ledger
    ) -> None:
        assert ledger.acquire("svc", "a", 30, T0)
        assert not ledger.acquire("svc", "b", 30, T0 + timedelta(seconds=29))
        assert ledger.acquire("other-svc", "b", 30, T0)  # leases are per subject

    def test_acquire_succeeds_for_another_holder_when_the_lease_has_expired(
        self, ledger: Ledger
    ) -> None:
        assert ledger.acquire("svc", "a", 30, T0)
        assert ledger.acquire("svc", "b", 30, T0 + timedelta(seconds=30))
        assert not ledger.acquire("svc", "a", 30, T0 + timedelta(seconds=31))

    def test_acquire_renews_when_the_holder_asks_again(self, ledger: Ledger) -> None:
        assert ledger.acquire("svc", "a", 30, T0)
        assert ledger.acquire("svc", "a", 30, T0 + timedelta(seconds=20))
        assert not ledger.acquire("svc", "b", 30, T0 + timedelta(seconds=40))

    def test_release_is_ignored_when_the_caller_is_not_the_holder(self, ledger: Ledger) -> None:
        assert ledger.acquire("svc", "a", 30, T0)
        ledger.release("svc", "b")
        assert not ledger.acquire("svc", "b", 30, T0)
        ledger.release("svc", "a")
        assert ledger.acquire("svc", "b", 30, T0)
        ledger.release("never-held", "a")

    def test_exactly_one_holder_wins_when_threads_race_for_a_lease(self, ledger: Ledger) -> None:
        holders = 4
        barrier = threading.Barrier(holders)

        def attempt(n: int) -> bool:
            barrier.wait()
            return ledger.acquire("svc", f"h{n}", 30, T0)

        with ThreadPoolExecutor(holders) as pool:
            assert sum(pool.map(attempt, range(holders))) == 1

    def test_outcomes_are_newest_first_when_recorded_out_of_order(self, ledger: Ledger) -> None:
        minutes = [3, 1, 4, 0, 2]
        for n, m in enumerate(minutes):
            ledger.record(f"k{n}", outcome(n, at=T0 + timedelta(minutes=m)))
        listed = ledger.outcomes()
        assert [o.decided_at for o in listed] == sorted(
            (T0 + timedelta(minutes=m) for m in minutes), reverse=True
        )
        assert [o.decision_id for o in ledger.outcomes(limit=2)] == ["d-2", "d-0"]

    def test_outcomes_hold_one_subject_when_a_subject_is_given(self, ledger: Ledger) -> None:
        ledger.record("a1", outcome(1, "churn", T0))
        ledger.record("b1", outcome(2, "fraud", T0 + timedelta(seconds=1)))
        ledger.commit(
            "churn", ModelState(), 0, "a2", outcome(3, "churn", T0 + timedelta(seconds=2))
        )
        assert [o.decision_id for o in ledger.outcomes("churn")] == ["d-3", "d-1"]
        assert [o.decision_id for o in ledger.outcomes("fraud")] == ["d-2"]
        assert ledger.outcomes("nobody") == []

    def test_pending_round_trips_when_an_event_is_parked(self, ledger: Ledger) -> None:
        record = pending("gcs:landing/a b/ü.csv#3", 60)
        assert ledger.pending(record.key) is None
        ledger.park(record)
        assert ledger.pending(record.key) == record
        assert ledger.parked() == [record]

    def test_park_replaces_the_record_when_an_event_is_parked_again(self, ledger: Ledger) -> None:
        ledger.park(pending("k", 60))
        ledger.park(pending("k", 120, attempts=2))
        assert [(p.key, p.attempts) for p in ledger.parked()] == [("k", 2)]

    def test_parked_lists_soonest_first_and_only_the_due_when_due_is_given(
        self, ledger: Ledger
    ) -> None:
        for key, due_in in (("late", 300), ("soon", 10), ("now", 0), ("mid", 60)):
            ledger.park(pending(key, due_in))
        assert [p.key for p in ledger.parked()] == ["now", "soon", "mid", "late"]
        assert [p.key for p in ledger.parked(limit=2)] == ["now", "soon"]
        due = ledger.parked(due=T0 + timedelta(seconds=60))
        assert [p.key for p in due] == ["now", "soon", "mid"]

    def test_unpark_forgets_the_record_and_ignores_an_absent_one(self, ledger: Ledger) -> None:
        ledger.park(pending("a", 0))
        ledger.park(pending("b", 0))
        ledger.unpark("a")
        ledger.unpark("never-parked")
        assert [p.key for p in ledger.parked()] == ["b"]
        assert ledger.pending("a") is None

    def test_watched_run_round_trips_when_a_trigger_is_watched(self, ledger: Ledger) -> None:
        run = watched("gcs__ü b", 0)
        assert ledger.watched_run(run.key) is None
        ledger.watch(run)
        assert ledger.watched_run(run.key) == run
        assert ledger.watched(T0) == [run]

    def test_watch_keeps_the_first_record_when_a_run_is_watched_again(self, ledger: Ledger) -> None:
        first = watched("r", 0)
        ledger.watch(first)
        ledger.update_run(ended(first, "run_succeeded", None, T0))
        ledger.watch(watched("r", 5))  # a redelivery's trigger found the run again
        stored = ledger.watched_run(first.key)
        assert stored is not None and stored.final and stored.triggered_at == T0

    def test_watched_lists_only_unfinished_due_runs_soonest_first(self, ledger: Ledger) -> None:
        for run_id, due_in in (("late", 300), ("soon", 10), ("now", 0), ("mid", 60)):
            ledger.watch(watched(run_id, 0, due_in))
        done = watched("done", 0)
        ledger.watch(done)
        ledger.update_run(ended(done, "run_failed", "task x failed", T0))
        due = T0 + timedelta(seconds=60)
        assert [r.run_id for r in ledger.watched(due)] == ["now", "soon", "mid"]
        assert [r.run_id for r in ledger.watched(due, limit=2)] == ["now", "soon"]

    def test_runs_lists_final_and_unfinished_newest_trigger_first(self, ledger: Ledger) -> None:
        for run_id, at in (("old", 0), ("new", 20), ("mid", 10)):
            ledger.watch(watched(run_id, at))
        mid = watched("mid", 10)
        ledger.update_run(ended(mid, "run_failed", "task x failed", T0))
        assert [r.run_id for r in ledger.runs()] == ["new", "mid", "old"]
        assert [r.run_id for r in ledger.runs(limit=1)] == ["new"]
        assert [r.outcome for r in ledger.runs()] == [None, "run_failed", None]


def _bump_in_process(path: str, n: int, each: int) -> None:
    ledger = SqliteLedger(path)
    for i in range(each):
        commit_until_done(ledger, "churn", f"p{n}-{i}", bump)


def test_sqlite_loses_no_update_when_processes_commit_concurrently(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    SqliteLedger(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump_in_process, args=(path, n, 5)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert SqliteLedger(path).load("churn") == Snapshot(ModelState(inconclusive_streak=15), 15)


# Batch windows (`core.batch`): membership create-if-absent, state under compare-and-set.


def member(n: int, generation: int = 1) -> Member:
    return Member("landing", f"in/dt=1/part-{n:05d}.csv", generation, 10 + n, "bWQ1", T0)


class TestWindowLedgerContract:
    def test_join_opens_epoch_zero_and_counts_when_the_first_object_arrives(
        self, ledger: Ledger
    ) -> None:
        window, added = ledger.join("p", "1", member(1), T0)
        assert added and (window.epoch, window.state, window.count) == (0, "open", 1)
        assert ledger.window("p", "1", 0) == window
        assert ledger.members("p", "1", 0) == [member(1)]

    def test_join_is_a_no_op_when_the_notification_is_delivered_again(self, ledger: Ledger) -> None:
        first, _ = ledger.join("p", "1", member(1), T0)
        again, added = ledger.join("p", "1", member(1), T0 + timedelta(seconds=5))
        assert not added and again == first
        assert ledger.window("p", "1", 0).count == 1  # type: ignore[union-attr]

    def test_a_new_generation_is_a_new_member_when_an_object_is_overwritten(
        self, ledger: Ledger
    ) -> None:
        ledger.join("p", "1", member(1, 1), T0)
        _, added = ledger.join("p", "1", member(1, 2), T0)
        assert added and len(ledger.members("p", "1", 0)) == 2

    def test_an_arrival_joins_the_next_epoch_when_the_window_is_closing(
        self, ledger: Ledger
    ) -> None:
        window, _ = ledger.join("p", "1", member(1), T0)
        ledger.advance(batch.closing(window, "quiet", T0), window.version)
        later, added = ledger.join("p", "1", member(2), T0 + timedelta(seconds=1))
        assert added and later.epoch == 1 and later.state == "open"
        # A redelivery of the first object stays in the closing window: never in two.
        again, added = ledger.join("p", "1", member(1), T0 + timedelta(seconds=2))
        assert not added and again.epoch == 0 and again.state == "closing"

    def test_advance_conflicts_when_a_member_joined_since_the_read(self, ledger: Ledger) -> None:
        window, _ = ledger.join("p", "1", member(1), T0)
        ledger.join("p", "1", member(2), T0)
        with pytest.raises(Conflict):
            ledger.advance(batch.closing(window, "quiet", T0), window.version)

    def test_advance_adds_only_unknown_members_when_the_listing_is_reconciled(
        self, ledger: Ledger
    ) -> None:
        window, _ = ledger.join("p", "1", member(1), T0)
        closing = ledger.advance(batch.closing(window, "sentinel", T0), window.version)
        ledger.join("p", "1", member(9), T0)  # epoch 1
        found = [replace(member(n), found_by="listing") for n in (1, 2, 9)]
        done = ledger.advance(replace(closing, reconciled=True, version=closing.version + 1),
                              closing.version, found)  # fmt: skip
        assert done.count == 2
        members = {m.key: m.found_by for m in ledger.members("p", "1", 0)}
        assert members == {member(1).key: "notification", member(2).key: "listing"}
        assert [m.key for m in ledger.members("p", "1", 1)] == [member(9).key]

    def test_sentinel_marks_the_open_window_when_it_arrives(self, ledger: Ledger) -> None:
        ledger.join("p", "1", member(1), T0)
        window, _ = ledger.join("p", "1", None, T0)
        assert window.sentinel and window.count == 1 and window.epoch == 0

    def test_windows_lists_by_state_newest_first_when_several_exist(self, ledger: Ledger) -> None:
        a, _ = ledger.join("p", "a", member(1), T0)
        ledger.join("p", "b", member(2), T0 + timedelta(seconds=1))
        ledger.join("q", "a", member(3), T0 + timedelta(seconds=2))
        ledger.advance(batch.closing(a, "quiet", T0), a.version)
        assert [w.partition for w in ledger.windows(("open",), "p")] == ["b"]
        assert [w.pipeline for w in ledger.windows(("open", "closing"))] == ["q", "p", "p"]

    def test_every_object_is_a_member_exactly_once_when_deliveries_race(
        self, ledger: Ledger
    ) -> None:
        arrivals = [member(n % 12) for n in range(36)]  # each delivered three times

        def deliver(m: Member) -> bool:
            return ledger.join("p", "1", m, T0)[1]

        with ThreadPoolExecutor(8) as pool:
            added = list(pool.map(deliver, arrivals))
        assert sum(added) == 12
        assert ledger.window("p", "1", 0).count == 12  # type: ignore[union-attr]
        assert len(ledger.members("p", "1", 0)) == 12
