"""Contract: the stand-in's schema check holds bodies to Google's own discovery documents.

The documents come from google-api-python-client's discovery cache (a dev dependency), read at
test time. These tests show the check can fail — an unknown field, a wrong enum value, a wrong
type, a packed message of the wrong shape — and that it is on for every contract suite (the
`standin` fixture fails any test whose bodies broke the schemas).
"""

from __future__ import annotations

from typing import Any

import pytest

from interlock_dev.standin.discovery import Discovery, check, type_url_schema
from tests.fixtures.standin import StandInServer, unique_id


@pytest.fixture(scope="module")
def discovery() -> Discovery:
    return Discovery()


def service_check(discovery: Discovery, body: dict[str, Any]) -> list[str]:
    doc = discovery.docs["run"]
    return check(doc, {"$ref": "GoogleCloudRunV2Service"}, body, "service", False)


SERVICE = {
    "name": "projects/p/locations/l/services/s",
    "generation": "3",
    "template": {
        "revision": "s-v1",
        "containers": [{"image": "i", "ports": [{"containerPort": 8080}]}],
    },
    "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
    "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
    "updateTime": "2026-12-01T10:00:00.123456Z",
}


def test_documents_come_from_google_api_python_client(discovery: Discovery) -> None:
    assert discovery.docs["run"]["rootUrl"] == "https://run.googleapis.com/"
    assert discovery.docs["aiplatform"]["version"] == "v1"


def test_conforming_service_has_no_violation(discovery: Discovery) -> None:
    assert service_check(discovery, SERVICE) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"bogus": 1}, "service.bogus: unknown field"),
        ({"template": {"containers": [{"image": "i", "port": 8080}]}}, "unknown field"),
        ({"traffic": [{"type": "LATEST", "percent": 100}]}, "is not one of"),
        ({"traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": "100"}]},
         "expected an integer"),
        ({"generation": "three"}, "is not an int64"),
        ({"updateTime": "yesterday"}, "not an RFC 3339 timestamp"),
        ({"template": {"timeout": "5 minutes"}}, "not a duration"),
        ({"reconciling": "yes"}, "expected a boolean"),
        ({"traffic": {"type": "x"}}, "expected an array"),
    ],
)  # fmt: skip
def test_violation_when_a_service_breaks_the_run_v2_schema(
    discovery: Discovery, change: dict[str, Any], fragment: str
) -> None:
    problems = service_check(discovery, {**SERVICE, **change})
    assert any(fragment in p for p in problems), problems


def test_operation_response_is_checked_by_its_packed_type(discovery: Discovery) -> None:
    doc, method = discovery.method("aiplatform.projects.locations.models.operations.get")
    good = {
        "name": "projects/1/locations/l/models/m/operations/2",
        "done": True,
        "response": {
            "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
            "model": "projects/1/locations/l/models/m",
            "modelVersionId": "1",
        },
    }
    assert check(doc, method["response"], good, "op", False) == []
    bad = {**good, "response": {**good["response"], "modelVersion": "1"}}
    assert any("unknown field" in p for p in check(doc, method["response"], bad, "op", False))
    unknown = {**good, "response": {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.Nope"}}
    assert any("names no schema" in p for p in check(doc, method["response"], unknown, "op", False))


def test_type_url_names_its_discovery_schema() -> None:
    assert type_url_schema("type.googleapis.com/google.cloud.run.v2.Service") == (
        "GoogleCloudRunV2Service"
    )


def test_query_parameter_unknown_to_the_method_is_a_violation(discovery: Discovery) -> None:
    problems = discovery.check_request(
        "run.projects.locations.services.patch", {"updateMask": "traffic", "force": "1"}, {}, False
    )
    assert problems == [
        "query parameter 'force' is not a parameter of run.projects.locations.services.patch"
    ]


def test_request_breaking_the_schema_is_refused_and_recorded_when_sent_to_the_stand_in(
    standin_server: StandInServer,
) -> None:
    service_id = unique_id("svc")
    service = standin_server.create_service(service_id, f"{service_id}-v1", "img:1")
    seen = len(standin_server.state()["schema_violations"])
    status, body = standin_server.request("PATCH", f"/v2/{service}", {"bogusField": True})
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert "bogusField: unknown field" in body["error"]["message"]
    recorded = standin_server.state()["schema_violations"][seen:]
    assert len(recorded) == 1 and "run.projects.locations.services.patch" in recorded[0]


def test_monitoring_v3_document_checks_time_series_replies(discovery: Discovery) -> None:
    from interlock_dev.standin.monitoring import distribution

    assert discovery.docs["monitoring"]["version"] == "v3"
    point = {
        "interval": {"startTime": "2026-12-01T10:00:00Z", "endTime": "2026-12-01T10:05:00Z"},
        "value": {"distributionValue": distribution([3.0, 12.5, 80.0])},
    }
    good = {"timeSeries": [{"metricKind": "DELTA", "valueType": "DISTRIBUTION", "points": [point]}]}
    assert discovery.check_response("monitoring.projects.timeSeries.list", good) == []
    bad = {"timeSeries": [{"metricKind": "DELTAS",
                           "points": [{"value": {"distributionValue": {"bucketCounts": "3"}}}]}]}  # fmt: skip
    problems = discovery.check_response("monitoring.projects.timeSeries.list", bad)
    assert any("is not one of" in p for p in problems)
    assert any("expected an array" in p for p in problems), problems


def test_monitoring_list_takes_the_query_parameters_the_adapter_sends(discovery: Discovery) -> None:
    query = {
        "filter": 'metric.type = "run.googleapis.com/request_count"',
        "interval.startTime": "2026-12-01T10:00:00Z",
        "interval.endTime": "2026-12-01T10:05:00Z",
        "aggregation.alignmentPeriod": "300s",
        "aggregation.perSeriesAligner": "1",
        "aggregation.crossSeriesReducer": "4",
        "aggregation.groupByFields": "resource.labels.revision_name",
        "pageSize": "1000",
        "pageToken": "2",
        "$alt": "json;enum-encoding=int",
    }
    method = "monitoring.projects.timeSeries.list"
    assert discovery.check_request(method, query, {}, True) == []
    assert discovery.check_request(method, {"aggregation.period": "5m"}, {}, True) != []
