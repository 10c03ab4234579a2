"""Run outcomes come back: the tick reads back each run interlock started and records how it ended."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from interlock.core.events import DataLanded
from interlock.core.runs import run_key
from interlock.ports import FailedTask
from tests.handlers.world import World, inbound

LANDED = DataLanded(bucket="landing", name="churn/day1.csv", generation=7)
DAG = "train_on_arrival"
BAD_CSV = "BadInput: the landed file lacks 3 column(s): tenure, plan, churned"


def landed(w: World) -> str:
    """Land one object, a minute before the next tick; the run id its trigger used."""
    w.handler.handle(inbound(LANDED))
    w.now += timedelta(minutes=1)
    (run_id,) = [r for (_, r) in w.dags.runs]
    return run_id


def run_outcomes(w: World) -> list[dict]:
    return [p for p in w.bus.payloads("decisions") if p["kind"].startswith("run_")]


def test_run_is_watched_from_the_trigger_when_an_object_lands():
    w = World()
    run_id = landed(w)

    (watched,) = w.ledger.runs()

    assert (watched.dag_id, watched.run_id, watched.pipeline) == (DAG, run_id, "churn-training")
    assert watched.object == LANDED.uri and watched.triggered_at == w.now - timedelta(minutes=1)
    assert not watched.final and watched.landing_key == f"gcs:{LANDED.bucket}/{LANDED.name}#7"


def test_run_failed_is_recorded_and_published_with_the_task_and_its_error_when_the_run_fails():
    w = World()
    run_id = landed(w)
    w.dags.finish(DAG, run_id, "failed", [FailedTask("preprocess", "failed", 1, None, BAD_CSV)])

    report = w.ticker.tick()

    assert report["runs.run_failed"] == 1
    (published,) = run_outcomes(w)
    assert published["kind"] == "run_failed" and published["subject"] == "churn-training"
    assert f"DAG {DAG} run {run_id} failed for {LANDED.uri}" in published["reasons"][0]
    assert published["reasons"][1] == f"task preprocess failed (try 1): {BAD_CSV}"
    assert w.bus.types("decisions")[-1] == "dev.interlock.pipeline.run_failed.v1"
    stored = w.ledger.get(run_key(DAG, run_id))
    assert stored is not None and stored.kind == "run_failed"
    (watched,) = w.ledger.runs()
    assert watched.final and watched.outcome == "run_failed" and BAD_CSV in (watched.reason or "")


def test_run_succeeded_is_recorded_once_when_ticks_come_again():
    w = World()
    run_id = landed(w)
    w.dags.finish(DAG, run_id, "success")

    first = w.ticker.tick()
    w.now += timedelta(minutes=1)
    second = w.ticker.tick()

    assert first["runs.run_succeeded"] == 1 and not any(k.startswith("runs.") for k in second)
    assert [p["kind"] for p in run_outcomes(w)] == ["run_succeeded"]
    assert w.ledger.watched(w.now + timedelta(days=2)) == []


def test_run_still_running_stays_watched_and_is_looked_at_again_later():
    w = World()
    run_id = landed(w)
    w.dags.finish(DAG, run_id, "running")
    w.now += timedelta(minutes=19)

    report = w.ticker.tick()

    assert report["runs.running"] == 1 and run_outcomes(w) == []
    (watched,) = w.ledger.runs()
    assert watched.state == "running" and not watched.final
    assert watched.next_check == w.now + timedelta(minutes=2)  # a tenth of its age
    assert w.ticker.tick().get("runs.running") is None  # not due yet


def test_run_failed_says_the_run_is_lost_when_airflow_no_longer_has_it():
    w = World()
    run_id = landed(w)
    w.dags.forget(DAG, run_id)

    w.ticker.tick()

    (published,) = run_outcomes(w)
    assert published["kind"] == "run_failed"
    assert "is lost: Airflow no longer has it" in published["reasons"][0]
    assert w.ledger.runs()[0].final


def test_run_stays_watched_when_airflow_is_unavailable_and_ends_when_it_is_back():
    w = World()
    run_id = landed(w)
    w.dags.unavailable = True

    assert w.ticker.tick()["runs.unavailable"] == 1

    w.dags.unavailable = False
    w.dags.finish(DAG, run_id, "success")
    w.now += timedelta(minutes=1)
    assert w.ticker.tick()["runs.run_succeeded"] == 1


def test_watch_ends_with_run_failed_when_the_run_is_unfinished_past_the_watch_limit():
    w = World()
    run_id = landed(w)
    w.dags.finish(DAG, run_id, "queued")
    w.now += timedelta(days=1, minutes=1)  # and the minute of `landed`

    w.ticker.tick()

    (published,) = run_outcomes(w)
    assert published["kind"] == "run_failed"
    assert "is still queued 24h02m after the trigger" in published["reasons"][0]
    assert "interlock stopped watching it" in published["reasons"][0]


def test_redelivered_landing_does_not_reopen_a_finished_watch():
    w = World()
    run_id = landed(w)
    w.dags.finish(DAG, run_id, "success")
    w.ticker.tick()

    w.ledger._decisions.clear()  # as if the landing's record were lost: it is re-decided
    w.handler.handle(inbound(LANDED, "redelivered"))

    assert w.ledger.runs()[0].final


def test_concurrent_ticks_record_and_publish_each_run_outcome_once():
    w = World()
    landings = [DataLanded(bucket="landing", name=f"churn/{n}.csv", generation=1) for n in range(6)]
    for n, item in enumerate(landings):
        w.handler.handle(inbound(item, f"e{n}"))
    w.now += timedelta(minutes=1)
    for dag_id, run_id in list(w.dags.runs):
        w.dags.finish(dag_id, run_id, "failed", [FailedTask("train", "failed", 2)])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: w.ticker.tick(), range(4)))

    kinds = [p["kind"] for p in run_outcomes(w)]
    assert kinds == ["run_failed"] * 6
    assert len({p["decision_id"] for p in run_outcomes(w)}) == 6
    assert all(r.final for r in w.ledger.runs())
