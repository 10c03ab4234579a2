"""Contract tests: the stand-in answers predictions on a Cloud Run service's uri, by its traffic.

Revisions are created the way interlock's Cloud Run adapter creates them (AIP_STORAGE_URI env,
interlock-version label) and serve `model.json` artifacts written here, in the format the
training DAG writes (dags/interlock_dag/trainer.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.standin import StandInServer, unique_id

BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
FEATURES = ["tenure", "spend"]


def write_model(directory: Path, coef: list[float], intercept: float) -> str:
    """A two-feature linear model; its directory as the file:// artifact URI."""
    directory.mkdir(parents=True)
    model = {
        "format": "interlock.linear-classifier.v1",
        "feature_names": FEATURES,
        "scaler": {"mean": [10.0, 50.0], "scale": [5.0, 20.0]},
        "coef": coef,
        "intercept": intercept,
        "classes": [0, 1],
    }
    (directory / "model.json").write_text(json.dumps(model))
    return directory.as_uri()


def template(revision: str, artifact_uri: str, version: str) -> dict[str, Any]:
    return {
        "revision": revision,
        "labels": {"interlock-model": "churn", "interlock-version": version},
        "containers": [
            {
                "image": "us-docker.pkg.dev/interlock/serve:1",
                "env": [{"name": "AIP_STORAGE_URI", "value": artifact_uri}],
            }
        ],
    }


class Service:
    """A stand-in Cloud Run service driven through the Admin v2 REST API."""

    def __init__(self, standin: StandInServer, service_id: str, first: dict[str, Any]) -> None:
        self.standin = standin
        self.id = service_id
        op = standin.ok(
            "POST", f"/v2/{standin.parent}/services?serviceId={self.id}", {"template": first}
        )
        self.name = str(standin.wait_operation(op)["name"])

    def add_revision(self, spec: dict[str, Any]) -> None:
        """A new revision holding no traffic (the served split is pinned, as interlock does)."""
        current = self.get()
        # A LATEST status names no revision (as on Cloud Run v2): it is the latest ready one.
        latest = current["latestReadyRevision"].rsplit("/", 1)[-1]
        traffic = [
            {"type": BY_REVISION, "revision": s.get("revision") or latest, "percent": s["percent"]}
            for s in current["trafficStatuses"]
        ]
        self._patch({"template": spec, "traffic": traffic})

    def split(self, percents: dict[str, int], tags: dict[str, str] | None = None) -> None:
        traffic = [
            {"type": BY_REVISION, "revision": r, "percent": p, "tag": (tags or {}).get(r)}
            for r, p in percents.items()
        ]
        self._patch({"traffic": traffic}, mask="traffic")

    def get(self) -> dict[str, Any]:
        return self.standin.ok("GET", f"/v2/{self.name}")

    def _patch(self, body: dict[str, Any], mask: str = "") -> None:
        query = f"?updateMask={mask}" if mask else ""
        self.standin.wait_operation(self.standin.ok("PATCH", f"/v2/{self.name}{query}", body))


def predict(
    uri: str, instances: list[Any], route_key: str | None = None
) -> tuple[int, dict[str, Any], str | None]:
    """(status, JSON body, X-Interlock-Revision header)."""
    request = urllib.request.Request(
        f"{uri}/predict", data=json.dumps({"instances": instances}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    if route_key is not None:
        request.add_header("X-Interlock-Route-Key", route_key)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (
                response.status,
                json.loads(response.read()),
                response.headers.get("X-Interlock-Revision"),
            )
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers.get("X-Interlock-Revision")


@pytest.fixture
def two_revisions(standin: StandInServer, tmp_path: Path) -> tuple[Service, str, str]:
    """A service whose first revision serves 100 % and a second that serves nothing yet."""
    v1_uri = write_model(tmp_path / "v1", coef=[1.5, -0.5], intercept=0.2)
    v2_uri = write_model(tmp_path / "v2", coef=[-1.0, 2.0], intercept=-0.1)
    service_id = unique_id("svc")
    v1, v2 = f"{service_id}-v1", f"{service_id}-v2"
    service = Service(standin, service_id, template(v1, v1_uri, "1"))
    service.add_revision(template(v2, v2_uri, "2"))
    return service, v1, v2


def test_service_uri_is_where_the_stand_in_answers_predictions(
    standin: StandInServer, two_revisions: tuple[Service, str, str]
) -> None:
    service, v1, _ = two_revisions
    uri = service.get()["uri"]
    assert uri == f"{standin.endpoint}/run/{service.id}"
    status, body, header = predict(uri, [[12.0, 40.0], {"tenure": 3.0, "spend": 90.0}])
    assert status == 200, body
    assert header == body["revision"] == v1
    assert body["model_version"] == "1"
    assert [p["label"] for p in body["predictions"]] == [1, 0]
    assert all(0.0 <= p["score"] <= 1.0 for p in body["predictions"])


def test_predictions_follow_the_split_when_traffic_is_90_10(
    two_revisions: tuple[Service, str, str],
) -> None:
    service, v1, v2 = two_revisions
    service.split({v1: 90, v2: 10})
    uri = service.get()["uri"]
    served = Counter(predict(uri, [[1.0, 2.0]])[2] for _ in range(200))
    assert set(served) == {v1, v2}
    # Binomial(200, 0.1): mean 20, sd 4.2 — these bounds fail once in ~10^4 runs.
    assert 5 <= served[v2] <= 40, served
    counters = service.standin.state()["counters"]
    assert counters[f"predictions:{v2}"] == served[v2]
    versions = {
        predict(uri, [[1.0, 2.0]], route_key=f"user-{i}")[1]["model_version"] for i in range(40)
    }
    assert versions == {"1", "2"}


def test_a_route_key_always_lands_on_the_same_revision_when_the_split_is_unchanged(
    two_revisions: tuple[Service, str, str],
) -> None:
    service, v1, v2 = two_revisions
    service.split({v1: 50, v2: 50})
    uri = service.get()["uri"]
    for key in ("alice", "bob", "carol"):
        assert len({predict(uri, [[1.0, 2.0]], route_key=key)[2] for _ in range(5)}) == 1


def test_only_the_full_revision_serves_when_traffic_is_100_0(
    two_revisions: tuple[Service, str, str],
) -> None:
    service, v1, v2 = two_revisions
    service.split({v1: 0, v2: 100})
    uri = service.get()["uri"]
    served = Counter(predict(uri, [[1.0, 2.0]])[2] for _ in range(50))
    assert served == {v2: 50}


def test_a_tag_uri_pins_its_revision_whatever_the_split(
    two_revisions: tuple[Service, str, str],
) -> None:
    service, v1, v2 = two_revisions
    service.split({v1: 100, v2: 0}, tags={v2: "candidate"})
    [tagged] = [s for s in service.get()["trafficStatuses"] if s.get("tag") == "candidate"]
    assert tagged["uri"].endswith(f"/run/candidate---{service.id}")
    assert {predict(tagged["uri"], [[1.0, 2.0]])[2] for _ in range(10)} == {v2}


def test_a_revision_answers_503_when_its_artifact_cannot_be_loaded(
    two_revisions: tuple[Service, str, str], tmp_path: Path
) -> None:
    service, v1, _ = two_revisions
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    (broken_dir / "model.json").write_text('{"format": "pickle"}')
    cases = {
        f"{service.id}-missing": (tmp_path / "nowhere").as_uri(),
        f"{service.id}-broken": broken_dir.as_uri(),
        f"{service.id}-gcs": "gs://bucket/model/",
    }
    for revision, artifact_uri in cases.items():
        service.add_revision(template(revision, artifact_uri, "9"))
        service.split({v1: 0, revision: 100})
        status, body, header = predict(service.get()["uri"], [[1.0, 2.0]])
        assert status == 503, body
        assert header == body["revision"] == revision
        assert body["error"]["status"] == "UNAVAILABLE"
        assert f"revision {revision} cannot load its model" in body["error"]["message"]


@pytest.mark.parametrize(
    ("instances", "fragment"),
    [
        ([[1.0]], "has 1 values; the model takes 2"),
        ([{"tenure": 1.0}], "lacks feature(s) spend"),
        ([[1.0, "x"]], "finite numbers only"),
        ([], "at least one instance"),
    ],
)
def test_bad_instances_answer_400_with_the_reason(
    two_revisions: tuple[Service, str, str], instances: list[Any], fragment: str
) -> None:
    service, _, _ = two_revisions
    status, body, _ = predict(service.get()["uri"], instances)
    assert status == 400
    assert fragment in body["error"]["message"]


def test_revisions_made_by_interlocks_cloud_run_adapter_serve_their_version(
    standin: StandInServer, tmp_path: Path
) -> None:
    from interlock.adapters.cloudrun import CloudRunTrafficRouter
    from interlock.core.effects import TrafficSplit
    from interlock.ports import RevisionSpec

    service_id = unique_id("churn")
    v1, v2 = f"{service_id}-v1", f"{service_id}-v2"
    v1_uri = write_model(tmp_path / "v1", coef=[1.5, -0.5], intercept=0.2)
    name = Service(standin, service_id, template(v1, v1_uri, "1")).name
    router = CloudRunTrafficRouter(
        standin.location, endpoint=standin.endpoint, timeout_s=10,
        operation_timeout_s=20, poll_initial_s=0.05, poll_max_s=0.3,
    )  # fmt: skip
    # As interlock's handlers build it for DeployRevision (functions/interlock/handlers.py).
    spec = RevisionSpec(
        name=v2,
        image="us-docker.pkg.dev/interlock/serve:1",
        env={
            "MODEL_NAME": "churn",
            "AIP_STORAGE_URI": write_model(tmp_path / "v2", [-1.0, 2.0], -0.1),
        },
        labels={"interlock-model": "churn", "interlock-version": "2"},
    )
    router.ensure_revision(name, spec)
    router.set_traffic(name, [TrafficSplit(v1, 0, "previous"), TrafficSplit(v2, 100, "champion")])
    status, body, header = predict(standin.ok("GET", f"/v2/{name}")["uri"], [[1.0, 2.0]])
    assert (status, header, body["model_version"]) == (200, v2, "2")
