"""The observer chore: Cloud Run's served requests become windows the guard decides, once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from interlock.core.errors import PermanentError, TransientError
from interlock.tick import Ticker, standard_chores
from tests.handlers.world import SERVICE, World, evaluation, inbound

WINDOW = timedelta(minutes=1)


def canary() -> World:
    """v1 champion, v2 the candidate at 10 %; observed in 1-minute windows, 30 s late."""
    w = World(observe={"window": "1m", "delay": "30s"})
    assert w.handler.handle(inbound(evaluation("1"), "e1")).kind == "promoted"
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "promoted"
    return w


def serve(w: World, revision: str, start: datetime, minutes: int, ok: int, errors: int = 0):
    for m in range(minutes):
        at = start + m * WINDOW + timedelta(seconds=5)
        for _ in range(ok):
            w.metrics.serve(SERVICE, revision, at, 200, 20.0)
        for _ in range(errors):
            w.metrics.serve(SERVICE, revision, at, 500, 20.0)


def first_window(w: World) -> datetime:
    """The first whole window after the candidate started (windows align on the minute)."""
    floor = w.now.replace(second=0, microsecond=0)
    return floor if floor == w.now else floor + WINDOW


def observer_kinds(w: World) -> list[str]:
    return [o.kind for o in reversed(w.ledger.outcomes()) if o.event_id.startswith("observe:")]


def test_healthy_traffic_advances_the_canary_when_windows_close():
    w = canary()
    start = first_window(w)
    serve(w, "churn-v2", start, 2, ok=20)
    serve(w, "churn-v1", start, 2, ok=180)
    w.now = start + 2 * WINDOW + timedelta(seconds=31)
    report = w.ticker.tick()
    assert report["observe.advanced"] == 1
    assert w.traffic() == {"churn-v1": 50, "churn-v2": 50}


def test_errors_roll_the_canary_back_when_three_windows_breach():
    w = canary()
    start = first_window(w)
    serve(w, "churn-v2", start, 3, ok=16, errors=4)  # 20 % errors
    serve(w, "churn-v1", start, 3, ok=180)
    w.now = start + 3 * WINDOW + timedelta(seconds=31)
    report = w.ticker.tick()
    assert report["observe.rolled_back"] == 1
    assert w.traffic() == {"churn-v1": 100}
    assert observer_kinds(w)[:3] == ["held", "held", "rolled_back"]


def test_a_window_without_traffic_is_inconclusive_never_healthy():
    w = canary()
    start = first_window(w)
    serve(w, "churn-v1", start, 1, ok=50)
    w.now = start + WINDOW + timedelta(seconds=31)
    w.ticker.tick()
    state = w.ledger.load("churn").state
    assert [x.verdict for x in state.windows["churn-v2"]] == ["inconclusive"]
    assert state.candidate is not None and state.candidate.healthy_windows == 0


def test_ticks_run_again_decide_each_window_once_when_repeated_or_twinned():
    w = canary()
    start = first_window(w)
    serve(w, "churn-v2", start, 1, ok=20)
    serve(w, "churn-v1", start, 1, ok=180)
    w.now = start + WINDOW + timedelta(seconds=31)
    twin = Ticker(w.handler, item_budget_s=0.0, chores=standard_chores())
    threads = [threading.Thread(target=t.tick) for t in (w.ticker, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.ticker.tick()
    keys = [o.decision_id for o in w.ledger.outcomes() if o.event_id.startswith("observe:")]
    assert len(keys) == len(set(keys)) == 2  # one window each for v2 and v1


def test_late_points_never_decide_a_window_twice_when_they_arrive_after_the_delay():
    w = canary()
    start = first_window(w)
    serve(w, "churn-v2", start, 1, ok=20)
    w.now = start + WINDOW + timedelta(seconds=31)
    w.ticker.tick()
    before = w.ledger.load("churn").state.windows["churn-v2"]
    serve(w, "churn-v2", start, 1, ok=0, errors=30)  # the same window, reported late
    w.ticker.tick()
    assert w.ledger.load("churn").state.windows["churn-v2"] == before
    assert observer_kinds(w).count("held") + observer_kinds(w).count("inconclusive") == 2


def test_a_monitoring_outage_defers_and_decides_nothing_then_catches_up():
    w = canary()
    start = first_window(w)
    serve(w, "churn-v2", start, 1, ok=20)
    w.now = start + WINDOW + timedelta(seconds=31)
    w.metrics.fail_next(TransientError("metrics: UNAVAILABLE: injected"))
    assert w.ticker.tick()["observe.deferred"] == 1
    assert "churn-v2" not in w.ledger.load("churn").state.windows
    w.ticker.tick()
    assert [x.verdict for x in w.ledger.load("churn").state.windows["churn-v2"]] == ["healthy"]


def test_a_refused_read_is_counted_failed_and_the_tick_goes_on():
    w = canary()
    w.now = first_window(w) + WINDOW + timedelta(seconds=31)
    w.metrics.fail_next(PermanentError("metrics", "PERMISSION_DENIED: monitoring.viewer"))
    assert w.ticker.tick()["observe.failed"] == 1
    assert w.ledger.load("churn").state.windows == {}


def test_models_without_observe_are_not_read():
    w = World()
    assert w.handler.handle(inbound(evaluation("1"), "e1")).kind == "promoted"
    w.now += timedelta(hours=1)
    w.ticker.tick()
    assert w.metrics.calls == 0
