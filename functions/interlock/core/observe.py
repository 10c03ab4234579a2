"""Core layer: live windows of a serving revision, from Cloud Run's own request metrics.

The observer (`interlock.observer`) reads `run.googleapis.com/request_count` (by response class)
and `request_latencies` (a distribution) per revision, in windows of the policy's length aligned
on multiples of that length since the epoch, so every tick, twin or late, computes the same
windows; a window is read only once it ended at least `delay` ago (Cloud Run's points become
visible up to 180 s late). Each becomes a `model.observed` whose id is the revision and the
window's end: the guard decides it once, whoever computed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from interlock.core.events import ModelObserved

ERROR_RATE = "error_rate"  # 5xx / all requests of the window
LATENCY_P95 = "latency_p95_ms"  # from the latency distribution's buckets
METRICS = (ERROR_RATE, LATENCY_P95)
MAX_WINDOWS = 12  # per revision and tick: a long outage catches up a bounded amount at a time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Distribution:
    """A latency distribution as Monitoring has it, buckets given by their finite bounds.

    `counts[0]` is the underflow bucket (< bounds[0]), `counts[i]` covers [bounds[i-1],
    bounds[i]), the last one the overflow (>= bounds[-1]); Monitoring may omit trailing zeros.
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def count(self) -> int:
        return sum(self.counts)

    def merge(self, other: Distribution) -> Distribution:
        if other.bounds != self.bounds:
            raise ValueError("distributions with different buckets cannot be summed")
        n = max(len(self.counts), len(other.counts))
        a, b = _padded(self.counts, n), _padded(other.counts, n)
        return Distribution(self.bounds, tuple(x + y for x, y in zip(a, b, strict=True)))

    def percentile(self, q: float) -> float | None:
        """The q-quantile, linearly interpolated inside its bucket; None with no samples.

        In the overflow bucket it is the last finite bound: the least the value can be."""
        total = self.count
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                if i >= len(self.bounds):
                    return self.bounds[-1] if self.bounds else 0.0
                upper = self.bounds[i]
                lower = self.bounds[i - 1] if i > 0 else min(0.0, upper)
                return lower + (upper - lower) * max(rank - seen, 0.0) / n
            seen += n
        return self.bounds[-1] if self.bounds else 0.0  # pragma: no cover (rank <= total)


def _padded(counts: tuple[int, ...], n: int) -> tuple[int, ...]:
    return counts + (0,) * (n - len(counts))


def exponential_bounds(num_finite: int, growth: float, scale: float) -> tuple[float, ...]:
    """Monitoring's `exponentialBuckets`: bound i = scale * growth^i, i = 0..num_finite."""
    return tuple(scale * growth**i for i in range(num_finite + 1))


def linear_bounds(num_finite: int, width: float, offset: float) -> tuple[float, ...]:
    """Monitoring's `linearBuckets`: bound i = offset + width * i, i = 0..num_finite."""
    return tuple(offset + width * i for i in range(num_finite + 1))


@dataclass(frozen=True)
class RevisionWindow:
    """What one revision served in [start, end): requests by response class, and latencies."""

    revision: str
    start: datetime
    end: datetime
    requests: Mapping[str, int] = field(default_factory=dict)  # "2xx" … "5xx" → count
    latency: Distribution | None = None

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def window_ends(
    now: datetime,
    window_s: int,
    delay_s: int,
    after: datetime | None,
    since: datetime | None,
    limit: int = MAX_WINDOWS,
) -> list[datetime]:
    """The ends of the windows due now, oldest first: aligned on `window_s`, ended at least
    `delay_s` ago, after `after` (the last window decided), starting no earlier than `since`
    (when the revision began serving); at most the newest `limit`."""
    step = timedelta(seconds=window_s)
    newest = _floor(now - timedelta(seconds=delay_s), window_s)
    lower = newest - step * limit
    if after is not None:
        lower = max(lower, after)
    if since is not None:
        lower = max(lower, _ceil(since, window_s))
    ends = []
    end = newest
    while end > lower and (since is None or end - step >= since):
        ends.append(end)
        end -= step
    return ends[::-1]


def _floor(t: datetime, window_s: int) -> datetime:
    seconds = int((t - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % window_s)


def _ceil(t: datetime, window_s: int) -> datetime:
    floor = _floor(t, window_s)
    return floor if floor == t else floor + timedelta(seconds=window_s)


def window_of(
    windows: Sequence[RevisionWindow], revision: str, start: datetime, end: datetime
) -> RevisionWindow:
    """The revision's window [start, end) from what Monitoring returned; none: no traffic."""
    for w in windows:
        if w.revision == revision and w.end == end:
            return w
    return RevisionWindow(revision, start, end)


def observed(model: str, version: str, window: RevisionWindow) -> ModelObserved:
    """The `model.observed` of one window. No traffic carries no metric: never healthy."""
    metrics: dict[str, float] = {}
    total = window.total
    if total:
        metrics[ERROR_RATE] = window.requests.get("5xx", 0) / total
        p95 = window.latency.percentile(0.95) if window.latency is not None else None
        if p95 is not None:
            metrics[LATENCY_P95] = round(p95, 3)
    return ModelObserved(
        model=model,
        revision=window.revision,
        version=version,
        window_start=window.start,
        window_end=window.end,
        sample_count=total,
        metrics=metrics,
    )


def event_id(revision: str, end: datetime) -> str:
    """Deterministic: every tick that computes this window names it the same."""
    return f"observe:{revision}:{end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
