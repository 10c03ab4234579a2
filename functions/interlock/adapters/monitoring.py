"""Adapters layer: Cloud Monitoring (v3 `ListTimeSeries`) as `RevisionMetrics`, over REST.

Two calls per query, one per metric of Cloud Run's managed resource `cloud_run_revision`:
`run.googleapis.com/request_count` (DELTA INT64) grouped by revision and response class, and
`request_latencies` (DELTA DISTRIBUTION, ms) grouped by revision, both aligned with ALIGN_DELTA
over the window and summed across series (REDUCE_SUM). MQL is retired; these filters are the
supported form (../shared/reference/gcp-facts.md §1c). Monitoring returns points newest first
and pages by points: both are handled here.

google-cloud-monitoring ships only a gRPC transport for `MetricServiceClient`, so the call is
made the way a GAPIC REST transport makes it: the request is the library's own
`ListTimeSeriesRequest`, sent as the v3 REST mapping's query parameters through google-auth's
`AuthorizedSession`; the reply is parsed strictly into the library's `ListTimeSeriesResponse`
(an unknown field is an error, not silently dropped); HTTP errors become google-api-core's
exceptions, so `google_errors` translates them like every other adapter's. Everything is imported
on first use, so only the tick pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from interlock.adapters.google_errors import client_failures, translate
from interlock.core.errors import PermanentError, TransientError
from interlock.core.observe import (
    Distribution,
    RevisionWindow,
    exponential_bounds,
    linear_bounds,
)
from interlock.core.text import one_line

SERVICE = re.compile(r"projects/([^/]+)/locations/([^/]+)/services/([a-z][a-z0-9-]{0,62})")
REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
SCOPE = "https://www.googleapis.com/auth/monitoring.read"  # roles/monitoring.viewer suffices
MAX_PAGES = 100  # a runaway page token never holds the tick


class CloudMonitoringMetrics:
    def __init__(
        self,
        endpoint: str | None = None,
        credentials: Any = None,
        timeout_s: float = 30.0,
        page_size: int = 10_000,
    ) -> None:
        """`endpoint` None means monitoring.googleapis.com; an http:// endpoint (the local
        stand-in) gets anonymous credentials unless others are given."""
        self.endpoint = endpoint or "monitoring.googleapis.com"
        self.timeout_s = timeout_s
        self.page_size = page_size
        self._credentials = credentials
        self._client: Any = None

    def _session(self) -> Any:
        if self._client is None:
            from google.auth.transport.requests import AuthorizedSession

            credentials = self._credentials
            if credentials is None and self.endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            elif credentials is None:
                import google.auth

                credentials, _ = google.auth.default(scopes=[SCOPE])
            self._client = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        return self._client

    def _base(self) -> str:
        return self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}"

    def windows(
        self,
        service: str,
        revisions: Sequence[str],
        start: datetime,
        end: datetime,
        period_s: int,
    ) -> list[RevisionWindow]:
        match = SERVICE.fullmatch(service)
        if match is None:
            raise PermanentError(
                "service", f"expected projects/P/locations/L/services/S, got {service!r}"
            )
        if not revisions:
            return []
        project, location, service_id = match.groups()
        wanted = set(revisions)
        where = (
            f'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{service_id}"'
            f' AND resource.labels.location = "{location}"'
            f" AND resource.labels.revision_name = one_of({', '.join(_quoted(r) for r in sorted(wanted))})"
        )
        counts: dict[tuple[str, datetime], dict[str, int]] = {}
        starts: dict[tuple[str, datetime], datetime] = {}
        for series in self._list(project, REQUEST_COUNT, where, start, end, period_s, True):
            revision = series.resource.labels.get("revision_name", "")
            klass = series.metric.labels.get("response_code_class", "")
            for point in series.points:
                key = (revision, _utc(point.interval.end_time))
                starts[key] = _utc(point.interval.start_time)
                by_class = counts.setdefault(key, {})
                by_class[klass] = by_class.get(klass, 0) + int(point.value.int64_value)
        latencies: dict[tuple[str, datetime], Distribution] = {}
        for series in self._list(project, REQUEST_LATENCIES, where, start, end, period_s, False):
            revision = series.resource.labels.get("revision_name", "")
            for point in series.points:
                key = (revision, _utc(point.interval.end_time))
                dist = _distribution(point.value.distribution_value)
                if dist is not None:
                    seen = latencies.get(key)
                    latencies[key] = dist if seen is None else _merged(seen, dist)
        return [
            RevisionWindow(rev, starts[(rev, w_end)], w_end, by_class, latencies.get((rev, w_end)))
            for (rev, w_end), by_class in sorted(counts.items())
            if rev in wanted and sum(by_class.values()) > 0
        ]

    def _list(
        self,
        project: str,
        metric: str,
        where: str,
        start: datetime,
        end: datetime,
        period_s: int,
        by_class: bool,
    ) -> list[Any]:
        group_by = ["resource.labels.revision_name"]
        if by_class:
            group_by.append("metric.labels.response_code_class")
        from google.api_core import exceptions as gexc
        from google.api_core import rest_helpers
        from google.cloud import monitoring_v3
        from google.protobuf import json_format

        # The library's enums, not numbers of our own: REDUCE_SUM is 4 (2 is REDUCE_MIN) and
        # FULL is 0 (1 is HEADERS, which answers no points at all).
        aggregation = monitoring_v3.Aggregation
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{project}",
            filter=f'metric.type = "{metric}" AND {where}',
            interval={"start_time": start, "end_time": end},
            aggregation={
                "alignment_period": {"seconds": period_s},
                "per_series_aligner": aggregation.Aligner.ALIGN_DELTA,
                "cross_series_reducer": aggregation.Reducer.REDUCE_SUM,
                "group_by_fields": group_by,
            },
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            page_size=self.page_size,
        )
        fields = json_format.MessageToDict(
            monitoring_v3.ListTimeSeriesRequest.pb(request), use_integers_for_enums=True
        )
        fields.pop("name")
        url = f"{self._base()}/v3/projects/{project}/timeSeries"
        action = f"Cloud Monitoring list_time_series {metric}"
        series: list[Any] = []
        token = ""
        try:
            for _ in range(MAX_PAGES):
                query = rest_helpers.flatten_query_params(  # type: ignore[no-untyped-call]
                    {**fields, "pageToken": token} if token else fields
                )
                query.append(("$alt", "json;enum-encoding=int"))
                response = self._session().get(url, params=query, timeout=self.timeout_s)
                if response.status_code >= 400:
                    raise gexc.from_http_response(response)  # type: ignore[no-untyped-call]
                page = monitoring_v3.ListTimeSeriesResponse.from_json(response.text)
                series.extend(page.time_series)
                token = page.next_page_token
                if not token:
                    return series
        except client_failures() as e:
            raise translate(e, "metrics", action) from e
        except ValueError as e:  # a reply that is not ListTimeSeriesResponse JSON
            raise TransientError(f"{action}: unreadable reply: {one_line(e, 200)}") from e
        raise TransientError(f"{action}: more than {MAX_PAGES} pages; narrowing next tick")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utc(value: Any) -> datetime:
    when: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(when.timestamp(), UTC).replace(microsecond=0)


def _distribution(value: Any) -> Distribution | None:
    """A Monitoring Distribution with its bucket options as explicit bounds."""
    options = value.bucket_options
    kind = options.WhichOneof("options")  # google.api.Distribution is a plain protobuf
    if kind == "exponential_buckets":
        e = options.exponential_buckets
        bounds = exponential_bounds(e.num_finite_buckets, e.growth_factor, e.scale)
    elif kind == "linear_buckets":
        lin = options.linear_buckets
        bounds = linear_bounds(lin.num_finite_buckets, lin.width, lin.offset)
    elif kind == "explicit_buckets":
        bounds = tuple(float(b) for b in options.explicit_buckets.bounds)
    else:
        return None  # no buckets: nothing to read a percentile from
    return Distribution(bounds, tuple(int(c) for c in value.bucket_counts))


def _merged(a: Distribution, b: Distribution) -> Distribution:
    try:
        return a.merge(b)
    except ValueError:
        return a if a.count >= b.count else b  # bucket layouts changed mid-window: keep the larger
