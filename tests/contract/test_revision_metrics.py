"""Contract: `FakeRevisionMetrics` and `CloudMonitoringMetrics` (the real google-cloud-monitoring
client, REST, on the stand-in's Monitoring v3) read the same windows from what was served.

On the stand-in, requests are real predictions on tag URLs (each pins a revision); errors and
latency come from its serving faults, so what Monitoring counts is what the revision served.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from interlock.adapters.monitoring import CloudMonitoringMetrics
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import RevisionMetrics
from tests.contract.test_predictions import Service, predict, template, write_model
from tests.fakes.metrics import FakeRevisionMetrics
from tests.fixtures.standin import StandInServer, unique_id

PERIOD_S = 60


class MetricsHarness(Protocol):
    metrics: RevisionMetrics
    service: str
    revisions: tuple[str, str]

    def serve(self, revision: str, ok: int, errors: int = 0, latency_s: float = 0.0) -> None:
        """`ok` requests answered 200 and `errors` answered 500 by `revision`, now."""
        ...

    def make_unavailable(self, times: int) -> None: ...


class FakeHarness:
    def __init__(self) -> None:
        self.fake = FakeRevisionMetrics()
        self.metrics: RevisionMetrics = self.fake
        self.service = "projects/p/locations/us-central1/services/churn"
        self.revisions = ("churn-v1", "churn-v2")

    def serve(self, revision: str, ok: int, errors: int = 0, latency_s: float = 0.0) -> None:
        now = datetime.now(UTC)
        for code, n in ((200, ok), (500, errors)):
            for _ in range(n):
                self.fake.serve(self.service, revision, now, code, 2.0 + latency_s * 1000)

    def make_unavailable(self, times: int) -> None:
        self.fake.fail_next(TransientError("UNAVAILABLE: injected"), times)


class MonitoringHarness:
    def __init__(self, standin: StandInServer, tmp_path: Path, page_size: int) -> None:
        self.standin = standin
        self.metrics = CloudMonitoringMetrics(
            endpoint=standin.endpoint, timeout_s=10, page_size=page_size
        )
        service_id = unique_id("obs")
        v1, v2 = f"{service_id}-v1", f"{service_id}-v2"
        artifact = write_model(tmp_path / "model", coef=[1.0, -1.0], intercept=0.0)
        svc = Service(standin, service_id, template(v1, artifact, "1"))
        svc.add_revision(template(v2, artifact, "2"))
        svc.split({v1: 50, v2: 50}, tags={v1: "one", v2: "two"})
        self.service, self.revisions = svc.name, (v1, v2)
        self._tags = {v1: "one", v2: "two"}
        self._id = service_id

    def serve(self, revision: str, ok: int, errors: int = 0, latency_s: float = 0.0) -> None:
        total = ok + errors
        self.standin.set_fault(revision=revision, error_rate=errors / total, latency_s=latency_s)
        uri = f"{self.standin.endpoint}/run/{self._tags[revision]}---{self._id}"
        codes = [predict(uri, [[1.0, 2.0]])[0] for _ in range(total)]
        self.standin.set_fault(revision=revision, error_rate=0, latency_s=0)
        assert sorted(codes) == [200] * ok + [500] * errors

    def make_unavailable(self, times: int) -> None:
        self.standin.set_fault(match="/v3/", status=503, count=times)


@pytest.fixture(params=["fake", "monitoring"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricsHarness]:
    if request.param == "fake":
        yield FakeHarness()
    else:
        standin: StandInServer = request.getfixturevalue("standin")
        yield MonitoringHarness(standin, tmp_path, page_size=1)


def window_now() -> tuple[datetime, datetime]:
    """[start, end) of one period holding this instant, well inside it."""
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(seconds=30)
    return end - timedelta(seconds=PERIOD_S), end


def test_requests_are_counted_per_revision_and_response_class_when_served(
    harness: MetricsHarness,
) -> None:
    v1, v2 = harness.revisions
    start, end = window_now()
    harness.serve(v1, ok=8, errors=2)
    harness.serve(v2, ok=3)
    windows = harness.metrics.windows(harness.service, [v1, v2], start, end, PERIOD_S)
    by_revision = {w.revision: w for w in windows}
    assert set(by_revision) == {v1, v2}
    assert dict(by_revision[v1].requests) == {"2xx": 8, "5xx": 2}
    assert dict(by_revision[v2].requests) == {"2xx": 3}
    assert by_revision[v1].end == end and by_revision[v1].start == start
    latency = by_revision[v1].latency
    assert latency is not None and latency.count == 10


def test_only_the_revisions_asked_for_are_returned_when_others_served(
    harness: MetricsHarness,
) -> None:
    v1, v2 = harness.revisions
    start, end = window_now()
    harness.serve(v1, ok=2)
    harness.serve(v2, ok=2)
    windows = harness.metrics.windows(harness.service, [v2], start, end, PERIOD_S)
    assert [w.revision for w in windows] == [v2]


def test_a_window_without_traffic_is_absent_when_nothing_was_served(
    harness: MetricsHarness,
) -> None:
    v1, _ = harness.revisions
    start, _end = window_now()
    harness.serve(v1, ok=1)
    earlier = harness.metrics.windows(
        harness.service, [v1], start - timedelta(seconds=3 * PERIOD_S), start, PERIOD_S
    )
    assert earlier == []


def test_every_window_of_the_interval_is_read_when_they_span_pages(
    harness: MetricsHarness,
) -> None:
    v1, v2 = harness.revisions
    _start, end = window_now()
    harness.serve(v1, ok=1, errors=1)
    harness.serve(v2, ok=1, errors=1)
    # Three periods back from `end`: only the newest holds traffic; page size 1 on Monitoring.
    windows = harness.metrics.windows(
        harness.service, [v1, v2], end - timedelta(seconds=3 * PERIOD_S), end, PERIOD_S
    )
    assert sorted((w.revision, w.end, w.total) for w in windows) == [(v1, end, 2), (v2, end, 2)]


def test_p95_latency_reflects_the_added_latency_when_a_revision_is_slow(
    harness: MetricsHarness,
) -> None:
    v1, _ = harness.revisions
    start, end = window_now()
    harness.serve(v1, ok=4, latency_s=0.08)
    (window,) = harness.metrics.windows(harness.service, [v1], start, end, PERIOD_S)
    assert window.latency is not None
    p95 = window.latency.percentile(0.95)
    assert p95 is not None and math.isfinite(p95) and p95 >= 60.0


def test_unavailable_monitoring_is_transient_when_it_answers_503(harness: MetricsHarness) -> None:
    v1, _ = harness.revisions
    start, end = window_now()
    harness.make_unavailable(times=1)
    with pytest.raises(TransientError):
        harness.metrics.windows(harness.service, [v1], start, end, PERIOD_S)


def test_a_service_that_is_no_full_name_is_permanent_when_asked(harness: MetricsHarness) -> None:
    start, end = window_now()
    with pytest.raises(PermanentError):
        harness.metrics.windows("churn", ["churn-v1"], start, end, PERIOD_S)
