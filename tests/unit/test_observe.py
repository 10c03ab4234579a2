"""Core: windows aligned and due, p95 from buckets, a window's `model.observed`, the policy block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.core.observe import (
    Distribution,
    RevisionWindow,
    event_id,
    exponential_bounds,
    linear_bounds,
    observed,
    window_ends,
    window_of,
)
from interlock.core.policy import PolicyError
from tests.builders import policy

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def test_window_ends_are_aligned_and_closed_at_least_delay_ago():
    now = T0 + timedelta(minutes=10, seconds=20)
    ends = window_ends(now, 300, 180, after=None, since=T0)
    assert ends == [T0 + 5 * M]  # 12:10 ended only 20 s ago; 12:05 ended 5 min ago


def test_window_ends_start_after_the_last_decided_window():
    now = T0 + timedelta(minutes=10)
    assert window_ends(now, 60, 0, after=T0 + 7 * M, since=T0) == [
        T0 + 8 * M,
        T0 + 9 * M,
        T0 + 10 * M,
    ]


def test_window_ends_never_start_before_the_revision_served():
    since = T0 + timedelta(seconds=30)
    assert window_ends(T0 + 3 * M, 60, 0, after=None, since=since) == [T0 + 2 * M, T0 + 3 * M]


def test_window_ends_are_bounded_when_catching_up_after_a_long_gap():
    ends = window_ends(T0 + timedelta(hours=5), 60, 0, after=None, since=None, limit=3)
    assert ends == [
        T0 + timedelta(hours=5) - 2 * M,
        T0 + timedelta(hours=5) - M,
        T0 + timedelta(hours=5),
    ]


def test_window_ends_are_the_same_for_twin_ticks_a_second_apart():
    a = window_ends(T0 + timedelta(seconds=200), 60, 30, None, T0)
    b = window_ends(T0 + timedelta(seconds=201), 60, 30, None, T0)
    assert a == b == [T0 + M, T0 + 2 * M]


def test_p95_is_interpolated_inside_its_bucket():
    dist = Distribution((10.0, 20.0, 40.0), (0, 50, 30, 20))
    assert dist.count == 100
    assert dist.percentile(0.5) == 20.0
    assert dist.percentile(0.95) == 40.0  # in the overflow bucket: its lower bound
    assert Distribution((10.0, 20.0), (0, 100)).percentile(0.95) == pytest.approx(19.5)


def test_percentile_of_the_underflow_bucket_starts_at_zero():
    assert Distribution((10.0,), (10,)).percentile(0.5) == 5.0


def test_percentile_is_none_without_samples():
    assert Distribution((1.0,), ()).percentile(0.95) is None
    assert Distribution((), (3,)).percentile(0.95) == 0.0


def test_distributions_merge_bucket_by_bucket_when_layouts_agree():
    a = Distribution((1.0, 2.0), (1, 2))
    b = Distribution((1.0, 2.0), (0, 1, 4))
    assert a.merge(b).counts == (1, 3, 4)
    with pytest.raises(ValueError):
        a.merge(Distribution((5.0,), (1,)))


def test_bucket_layouts_follow_monitoring():
    assert exponential_bounds(3, 2.0, 1.0) == (1.0, 2.0, 4.0, 8.0)
    assert linear_bounds(2, 5.0, 10.0) == (10.0, 15.0, 20.0)


def test_observed_window_has_error_rate_and_p95():
    window = RevisionWindow(
        "churn-v2", T0, T0 + M, {"2xx": 18, "5xx": 2}, Distribution((10.0, 20.0), (0, 20))
    )
    obs = observed("churn", "2", window)
    assert obs.sample_count == 20
    assert obs.metrics == {"error_rate": 0.1, "latency_p95_ms": 19.5}
    assert (obs.window_start, obs.window_end) == (T0, T0 + M)


def test_observed_window_without_traffic_carries_no_metric():
    obs = observed("churn", "2", RevisionWindow("churn-v2", T0, T0 + M))
    assert obs.sample_count == 0 and obs.metrics == {}


def test_observed_window_without_latencies_has_only_the_error_rate():
    obs = observed("churn", "2", RevisionWindow("churn-v2", T0, T0 + M, {"2xx": 5}))
    assert obs.metrics == {"error_rate": 0.0}


def test_window_of_finds_the_revision_window_or_an_empty_one():
    w = RevisionWindow("a", T0, T0 + M, {"2xx": 1})
    assert window_of([w], "a", T0, T0 + M) is w
    assert window_of([w], "b", T0, T0 + M).total == 0


def test_event_id_is_the_revision_and_the_window_end():
    assert event_id("churn-v2", T0) == "observe:churn-v2:2026-11-25T12:00:00Z"


def test_observe_policy_is_read_with_defaults():
    mp = policy(observe={"source": "cloud_run"}).models[0]
    assert mp.observe is not None
    assert (mp.observe.window_s, mp.observe.delay_s) == (300, 180)
    assert policy().models[0].observe is None
    assert policy(guard={"alerts": "rollback"}).models[0].guard.alerts == "rollback"


@pytest.mark.parametrize(
    ("observe", "problem"),
    [
        ({"source": "prometheus"}, 'models[0].observe.source: expected "cloud_run"'),
        ({"window": "7m"}, "models[0].observe.window: must divide a day evenly"),
        ({"window": "0s"}, "models[0].observe.window: must be at least 1s"),
        ({"window": "2d"}, "models[0].observe.window: must be at most 1d"),
        ({"delay": "2d"}, "models[0].observe.delay: must be at most 1d"),
        ({"delay": "soon"}, "models[0].observe.delay: expected a duration"),
        ({"lag": "1m"}, "models[0].observe.lag: unknown key"),
    ],
)
def test_observe_policy_errors_are_precise(observe, problem):
    with pytest.raises(PolicyError) as err:
        policy(observe=observe)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_guard_alerts_must_be_a_known_mode():
    with pytest.raises(PolicyError) as err:
        policy(guard={"alerts": "page"})
    assert err.value.problems == [
        'models[0].guard.alerts: expected "breach", "rollback" or "advisory", got \'page\''
    ]
