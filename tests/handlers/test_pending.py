"""Pending events: parked when an upstream stays down, re-driven by the tick, given up on at the
policy's limit with the whole story; concurrent ticks and redeliveries never apply twice."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from interlock.core.codec import format_time
from interlock.core.errors import TransientError
from interlock.core.events import DataLanded
from tests.handlers.world import World, evaluation, inbound

LANDED = DataLanded(bucket="landing", name="churn/p.csv", generation=4)
KEY = "gcs:landing/churn/p.csv#4"


def test_parked_landing_is_triggered_once_by_the_tick_when_airflow_is_back():
    w = World()
    w.dags.unavailable = True
    assert w.handler.handle(inbound(LANDED)).kind == "pending"
    w.dags.unavailable = False
    w.now += timedelta(minutes=1)
    assert w.ticker.tick() == {"triggered": 1}
    assert w.ledger.get(KEY).kind == "triggered"
    assert w.ledger.parked() == []
    assert len(w.dags.runs) == 1
    assert w.ticker.tick() == {}  # nothing left to do: a later tick changes nothing


def test_tick_leaves_a_pending_event_alone_when_it_is_not_due_yet():
    w = World()
    w.dags.unavailable = True
    w.handler.handle(inbound(LANDED))
    w.dags.unavailable = False
    w.now += timedelta(seconds=59)
    assert w.ticker.tick() == {}
    assert w.dags.runs == {}


def test_pending_outcome_says_why_attempts_next_attempt_and_until_when_on_the_decisions_topic():
    w = World()
    w.dags.unavailable = True
    w.handler.handle(inbound(LANDED))
    (published,) = w.bus.payloads("decisions")
    assert w.bus.types("decisions") == ["dev.interlock.event.pending.v1"]
    assert published["kind"] == "pending"
    why, attempts, when = published["reasons"]
    assert "fake Airflow is unavailable" in why
    assert attempts == f"attempt 1 failed; pending since {format_time(w.now)}"
    nxt, until = w.now + timedelta(minutes=1), w.now + timedelta(hours=24)
    assert when == f"next attempt at {format_time(nxt)}; gives up at {format_time(until)}"


def test_backoff_doubles_up_to_fifteen_minutes_when_the_upstream_stays_down():
    w = World()
    w.dags.unavailable = True
    w.handler.handle(inbound(LANDED))
    waits = []
    for _ in range(6):
        w.now = w.ledger.pending(KEY).next_attempt
        before = w.now
        assert w.ticker.tick() == {"pending": 1}
        waits.append((w.ledger.pending(KEY).next_attempt - before).total_seconds() / 60)
    assert waits == [2, 4, 8, 15, 15, 15]
    assert w.ledger.pending(KEY).attempts == 7


def test_event_is_dead_lettered_with_its_story_when_the_upstream_is_down_past_the_limit():
    w = World()
    first = w.now
    w.dags.unavailable = True
    w.handler.handle(inbound(LANDED, "landing-1"))
    while w.ledger.pending(KEY) is not None:
        w.now = w.ledger.pending(KEY).next_attempt
        w.ticker.tick()
    outcome = w.ledger.get(KEY)
    assert outcome.kind == "dead_lettered"
    assert w.now == first + timedelta(hours=24)
    reason = outcome.reasons[0]
    assert f"pending since {format_time(first)}" in reason
    assert "over 1d" in reason and "last failure: trigger DAG" in reason
    attempts = int(reason.split("gave up after ")[1].split(" ")[0])
    assert attempts > 90  # every 15 minutes for a day
    (dead,) = w.bus.topics["dead-letter"]
    assert dead.attributes["interlock-field"] == "pending"
    assert dead.attributes["ce-id"] == "landing-1"
    assert json.loads(dead.data)["name"] == "churn/p.csv"  # the event, ready for replay


def test_promotion_parked_while_cloud_run_is_down_is_applied_once_by_the_tick():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    w.router.fail_next(TransientError("Cloud Run 503"), times=2)
    assert w.handler.handle(inbound(evaluation("2"))).kind == "pending"
    w.now += timedelta(minutes=1)
    assert w.ticker.tick() == {"pending": 1}  # still down
    w.now += timedelta(minutes=2)
    assert w.ticker.tick() == {"promoted": 1}
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    assert [o.kind for o in w.ledger.outcomes("churn")] == ["promoted", "promoted"]


def test_re_driven_event_is_judged_for_age_when_it_was_first_taken():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    w.router.fail_next(TransientError("Cloud Run 503"))
    assert w.handler.handle(inbound(evaluation("2"))).kind == "pending"
    w.now += timedelta(hours=25)  # past max_event_age.model_evaluated (24h) by now, not then
    assert w.ticker.tick() == {"promoted": 1}


def test_redelivery_of_a_parked_event_advances_the_same_record():
    w = World()
    w.dags.unavailable = True
    w.handler.handle(inbound(LANDED, "m1"))
    first = w.ledger.pending(KEY)
    w.now += timedelta(seconds=30)
    assert w.handler.handle(inbound(LANDED, "m2")).kind == "pending"
    again = w.ledger.pending(KEY)
    assert (again.attempts, again.first_failed, again.event_id) == (2, first.first_failed, "m1")


def test_concurrent_ticks_and_a_redelivery_trigger_one_run_and_record_one_outcome():
    w = World()
    w.dags.unavailable = True
    landings = [DataLanded(bucket="landing", name=f"churn/{n}.csv", generation=1) for n in range(8)]
    for landed in landings:
        w.handler.handle(inbound(landed))
    w.dags.unavailable = False
    w.now += timedelta(minutes=1)
    racers = 4
    barrier = threading.Barrier(racers + 1)

    def tick(_: int) -> None:
        barrier.wait()
        w.ticker.tick()

    def redeliver() -> None:
        barrier.wait()
        for landed in landings:
            w.handler.handle(inbound(landed, "redelivered"))

    with ThreadPoolExecutor(racers + 1) as pool:
        done = [pool.submit(tick, n) for n in range(racers)] + [pool.submit(redeliver)]
        for future in done:
            future.result()
    w.ticker.tick()  # a stale record a racer left behind is cleared by the next tick
    assert len(w.dags.runs) == len(landings)
    assert sorted(o.kind for o in w.ledger.outcomes()) == ["triggered"] * len(landings)
    assert w.ledger.parked() == []


def test_policy_without_patience_dead_letters_at_once_when_give_up_after_is_zero():
    w = World(pending={"give_up_after": "0s"})
    w.dags.unavailable = True
    outcome = w.handler.handle(inbound(LANDED))
    assert outcome.kind == "dead_lettered"
    assert "pending.give_up_after is 0s" in outcome.reasons[0]
    assert w.ledger.parked() == []
