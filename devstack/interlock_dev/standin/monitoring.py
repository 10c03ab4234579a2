"""Local stack (stand-in): Cloud Monitoring v3 `projects.timeSeries.list` over what was served.

The prediction server (predict.py) records every request it serves: revision, HTTP status and
latency. This answers the subset of ListTimeSeries interlock's adapter uses, for Cloud Run's
managed resource `cloud_run_revision`: `run.googleapis.com/request_count` (DELTA INT64, labels
`response_code`, `response_code_class`) and `request_latencies` (DELTA DISTRIBUTION in ms, in
an exponential bucket layout). A filter is a conjunction (`AND`) of `key = "value"` and
`key = one_of("a", …)` over `metric.type`, `resource.type`, `resource.labels.*` and
`metric.labels.*`; anything else is an INVALID_ARGUMENT naming it (Google would accept more, the
stand-in says what it does not model). Aggregation: ALIGN_DELTA over `alignmentPeriod`, with the
periods tiling the interval back from `endTime` as Monitoring aligns them; REDUCE_SUM (or
REDUCE_NONE) across series grouped by `groupByFields`; `view` HEADERS answers the series
without their points, as Monitoring does. Points come newest first; pages hold
whole series and at most `pageSize` points (at least one series).
Unverified against Google (settled by `make conformance`): Cloud Run's exact bucket constants.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from interlock_dev.standin.errors import invalid
from interlock_dev.standin.routing import SEG, Request, Router

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
RESOURCE = "cloud_run_revision"
# Exponential like Cloud Run's request_latencies (constants unverified): 1 ms … ~4.5e9 ms.
BUCKETS = {"numFiniteBuckets": 66, "growthFactor": 1.4, "scale": 1.0}
ALIGNERS = {"ALIGN_NONE": 0, "ALIGN_DELTA": 1}
# google.monitoring.v3.Aggregation.Reducer: REDUCE_MEAN is 1, REDUCE_MIN 2, REDUCE_MAX 3.
REDUCERS = {"REDUCE_NONE": 0, "REDUCE_SUM": 4}
# ListTimeSeriesRequest.TimeSeriesView: FULL (the default) is 0; HEADERS answers no points.
VIEWS = {"FULL": 0, "HEADERS": 1}
DEFAULT_PAGE_SIZE = 100_000
MAX_KEPT = 200_000  # requests remembered; the oldest go first
_TERM = re.compile(
    r'^\s*([a-z_.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|one_of\(\s*((?:"(?:[^"\\]|\\.)*"\s*,?\s*)+)\))\s*$'
)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_PERIOD = re.compile(r"^([0-9]{1,9})(?:\.0*)?s$")


@dataclass(frozen=True)
class Served:
    project: str
    location: str
    service: str
    revision: str
    status: int
    latency_ms: float
    at: datetime

    def resource_labels(self) -> dict[str, str]:
        return {
            "project_id": self.project,
            "service_name": self.service,
            "revision_name": self.revision,
            "location": self.location,
            "configuration_name": self.service,
        }

    def metric_labels(self) -> dict[str, str]:
        return {"response_code": str(self.status), "response_code_class": f"{self.status // 100}xx"}


class ServedLog:
    """Every request the prediction server answered, in memory (test state, like faults)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: list[Served] = []

    def record(self, served: Served) -> None:
        with self._lock:
            self._served.append(served)
            if len(self._served) > MAX_KEPT:
                del self._served[: len(self._served) - MAX_KEPT]

    def between(self, start: datetime, end: datetime) -> list[Served]:
        with self._lock:
            return [s for s in self._served if start <= s.at < end]


def _filter(text: str) -> dict[str, set[str]]:
    """`key = "v" AND key = one_of("a", "b")` → {key: allowed values}."""
    terms: dict[str, set[str]] = {}
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _TERM.match(part)
        if match is None:
            raise invalid(
                f'The stand-in models filters of `key = "value"` and `key = one_of(...)` '
                f"joined by AND; it does not understand {part[:120]!r}."
            )
        key, single, many = match.groups()
        if not (
            key in ("metric.type", "resource.type")
            or key.startswith(("resource.labels.", "metric.labels."))
        ):
            raise invalid(f"Filter key {key!r} is not modelled by the stand-in.")
        values = (
            {_unescape(single)}
            if single is not None
            else {_unescape(v) for v in _QUOTED.findall(many)}
        )
        terms[key] = terms[key] & values if key in terms else values
    if "metric.type" not in terms:
        raise invalid("The filter must name a metric.type.")
    return terms


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _time(query: dict[str, str], key: str) -> datetime:
    raw = query.get(key)
    if not raw:
        raise invalid(f"Field {key} is required.")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Invalid value for {key}: {raw!r}.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _enum(query: dict[str, str], key: str, names: dict[str, int], default: str) -> str:
    raw = query.get(key, default)
    by_number = {str(v): k for k, v in names.items()}
    name = by_number.get(raw, raw)
    if name not in names:
        raise invalid(f"{key} {raw!r} is not modelled by the stand-in (only {', '.join(names)}).")
    return name


def _matches(s: Served, metric: str, terms: dict[str, set[str]]) -> bool:
    values = {
        "metric.type": metric,
        "resource.type": RESOURCE,
        **{f"resource.labels.{k}": v for k, v in s.resource_labels().items()},
        **{f"metric.labels.{k}": v for k, v in s.metric_labels().items()},
    }
    return all(values.get(key) in allowed for key, allowed in terms.items())


def list_time_series(app_log: ServedLog, req: Request) -> tuple[int, dict[str, Any]]:
    q = req.query
    terms = _filter(q.get("filter", ""))
    (metric,) = terms["metric.type"] if len(terms["metric.type"]) == 1 else (None,)
    if metric not in (REQUEST_COUNT, REQUEST_LATENCIES):
        raise invalid(f"The stand-in serves {REQUEST_COUNT} and {REQUEST_LATENCIES} only.")
    end = _time(q, "interval.endTime")
    start = _time(q, "interval.startTime") if q.get("interval.startTime") else end
    if start > end:
        raise invalid("The start time must be before the end time.")
    aligner = _enum(q, "aggregation.perSeriesAligner", ALIGNERS, "ALIGN_NONE")
    reducer = _enum(q, "aggregation.crossSeriesReducer", REDUCERS, "REDUCE_NONE")
    view = _enum(q, "view", VIEWS, "FULL")
    if aligner != "ALIGN_DELTA":
        raise invalid("The stand-in aligns with ALIGN_DELTA only (perSeriesAligner).")
    period = _PERIOD.match(q.get("aggregation.alignmentPeriod", ""))
    if period is None or int(period.group(1)) < 1:
        raise invalid("aggregation.alignmentPeriod must be a whole number of seconds like '300s'.")
    step = timedelta(seconds=int(period.group(1)))
    group_by = req.query_all.get("aggregation.groupByFields", [])
    for field in group_by:
        if not field.startswith(("resource.labels.", "metric.labels.")):
            raise invalid(f"groupByFields {field!r} is not a resource or metric label.")
    project = req.params["project"]
    served = [s for s in app_log.between(end - step * _periods(start, end, step), end)
              if s.project == project and _matches(s, metric, terms)]  # fmt: skip
    series = _series(
        served, metric, end, step, start, group_by if reducer == "REDUCE_SUM" else None
    )
    if view == "HEADERS":  # "the identity of the metric and the time series resource" only
        series = [{**item, "points": []} for item in series]
    page = _page(series, q)
    if view == "HEADERS":
        for item in page.get("timeSeries", ()):
            del item["points"]
    return 200, page


def _periods(start: datetime, end: datetime, step: timedelta) -> int:
    """How many alignment periods, back from `end`, the interval covers (at least one)."""
    return max(1, math.floor((end - start) / step))


def _series(
    served: list[Served],
    metric: str,
    end: datetime,
    step: timedelta,
    start: datetime,
    group_by: list[str] | None,
) -> list[dict[str, Any]]:
    groups: dict[tuple[tuple[str, str], ...], list[Served]] = {}
    for s in served:
        labels = {
            **{f"resource.labels.{k}": v for k, v in s.resource_labels().items()},
            **{f"metric.labels.{k}": v for k, v in s.metric_labels().items()},
        }
        if metric == REQUEST_LATENCIES:
            labels.pop("metric.labels.response_code")  # the distribution has no response_code
        kept = labels if group_by is None else {k: labels.get(k, "") for k in group_by}
        groups.setdefault(tuple(sorted(kept.items())), []).append(s)
    out = []
    for key, members in sorted(groups.items()):
        labels = dict(key)
        points = []
        for k in range(_periods(start, end, step)):
            w_end = end - step * k
            w_start = w_end - step
            hits = [s for s in members if w_start <= s.at < w_end]
            if hits:
                points.append(_point(metric, w_start, w_end, hits))
        if not points:
            continue
        out.append({
            "metric": {"type": metric, "labels": _prefixed(labels, "metric.labels.")},
            "resource": {"type": RESOURCE, "labels": _prefixed(labels, "resource.labels.")},
            "metricKind": "DELTA",
            "valueType": "INT64" if metric == REQUEST_COUNT else "DISTRIBUTION",
            "unit": "1" if metric == REQUEST_COUNT else "ms",
            "points": points,  # newest first, as Monitoring returns them
        })  # fmt: skip
    return out


def _prefixed(labels: dict[str, str], prefix: str) -> dict[str, str]:
    return {k.removeprefix(prefix): v for k, v in labels.items() if k.startswith(prefix)}


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _point(metric: str, start: datetime, end: datetime, hits: list[Served]) -> dict[str, Any]:
    interval = {"startTime": _stamp(start), "endTime": _stamp(end)}
    if metric == REQUEST_COUNT:
        return {"interval": interval, "value": {"int64Value": str(len(hits))}}
    return {
        "interval": interval,
        "value": {"distributionValue": distribution(h.latency_ms for h in hits)},
    }


def distribution(values: Iterable[float]) -> dict[str, Any]:
    """A google.api.Distribution of `values` in the exponential layout (trailing zeros omitted)."""
    xs = list(values)
    n = BUCKETS["numFiniteBuckets"]
    growth, scale = float(BUCKETS["growthFactor"]), float(BUCKETS["scale"])
    counts = [0] * (int(n) + 2)
    for x in xs:
        if x < scale:
            i = 0
        else:
            i = min(int(math.log(x / scale, growth)) + 1, int(n) + 1)
            # Float rounding at an exact bound: bucket i covers [scale·g^(i-1), scale·g^i).
            if i <= n and x >= scale * growth**i:
                i += 1
        counts[i] += 1
    while counts and counts[-1] == 0:
        counts.pop()
    mean = sum(xs) / len(xs) if xs else 0.0
    return {
        "count": str(len(xs)),
        "mean": mean,
        "sumOfSquaredDeviation": sum((x - mean) ** 2 for x in xs),
        "bucketOptions": {"exponentialBuckets": dict(BUCKETS)},
        "bucketCounts": [str(c) for c in counts],
    }


def _page(series: list[dict[str, Any]], q: dict[str, str]) -> dict[str, Any]:
    try:
        size = int(q.get("pageSize") or DEFAULT_PAGE_SIZE)
        offset = int(q.get("pageToken") or 0)
    except ValueError:
        raise invalid("pageSize and pageToken must come from this API.") from None
    if size < 1 or offset < 0:
        raise invalid("pageSize must be positive.")
    taken: list[dict[str, Any]] = []
    points = 0
    for item in series[offset:]:
        if taken and points + len(item["points"]) > size:
            break
        taken.append(item)
        points += len(item["points"])
    reply: dict[str, Any] = {"timeSeries": taken} if taken else {}
    if offset + len(taken) < len(series):
        reply["nextPageToken"] = str(offset + len(taken))
    return reply


def register(router: Router, log: ServedLog) -> None:
    router.add(
        "GET",
        rf"/v3/projects/(?P<project>{SEG})/timeSeries",
        lambda req: list_time_series(log, req),
        "monitoring.projects.timeSeries.list",
    )
