"""Fakes: an in-memory `RevisionMetrics` with Cloud Monitoring's rules; `tests/contract` keeps it honest.

Like Monitoring over Cloud Run's metrics: requests are counted per revision and response class,
latencies in an exponential bucket layout; a window is [end - k·period, end - (k-1)·period) back
from the query's end, and one with no request is absent; a service is a full name.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from interlock.core.errors import InterlockError, PermanentError
from interlock.core.observe import Distribution, RevisionWindow, exponential_bounds

BOUNDS = exponential_bounds(66, 1.4, 1.0)  # the stand-in's layout (standin/monitoring.py)


@dataclass(frozen=True)
class Served:
    service: str
    revision: str
    at: datetime
    code: int
    latency_ms: float


class FakeRevisionMetrics:
    def __init__(self) -> None:
        self.served: list[Served] = []
        self.calls = 0
        self._failures: list[InterlockError] = []

    # --- seeding and fault helpers for tests -----------------------------------------------------

    def serve(
        self, service: str, revision: str, at: datetime, code: int = 200, latency_ms: float = 10.0
    ) -> None:
        self.served.append(Served(service, revision, at, code, latency_ms))

    def fail_next(self, error: InterlockError, times: int = 1) -> None:
        self._failures.extend([error] * times)

    # --- the port ----------------------------------------------------------------------------

    def windows(
        self,
        service: str,
        revisions: Sequence[str],
        start: datetime,
        end: datetime,
        period_s: int,
    ) -> list[RevisionWindow]:
        self.calls += 1
        if self._failures:
            raise self._failures.pop(0)
        if period_s < 1 or not start < end or not service.startswith("projects/"):
            raise PermanentError("metrics", f"INVALID_ARGUMENT: bad query for {service!r}")
        step = timedelta(seconds=period_s)
        out: list[RevisionWindow] = []
        for revision in revisions:
            w_end = end
            while w_end - step >= start:
                w_start = w_end - step
                hits = [
                    s
                    for s in self.served
                    if s.service == service and s.revision == revision and w_start <= s.at < w_end
                ]
                if hits:
                    out.append(_window(revision, w_start, w_end, hits))
                w_end = w_start
        return out


def _window(revision: str, start: datetime, end: datetime, hits: list[Served]) -> RevisionWindow:
    requests: dict[str, int] = {}
    counts = [0] * (len(BOUNDS) + 1)
    for s in hits:
        klass = f"{s.code // 100}xx"
        requests[klass] = requests.get(klass, 0) + 1
        counts[bisect.bisect_right(BOUNDS, s.latency_ms)] += 1
    while counts and counts[-1] == 0:
        counts.pop()  # Monitoring omits trailing zero buckets
    return RevisionWindow(revision, start, end, requests, Distribution(BOUNDS, tuple(counts)))
