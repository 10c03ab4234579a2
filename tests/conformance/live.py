"""Conformance: harnesses that drive real Cloud Run and Vertex AI (throw-away resources).

They implement the contract suites' harness protocols (tests/contract/test_traffic_router.py,
test_model_registry.py). What only the stand-in can do — inject an outage, a failed rollout, a
race at a chosen instant — skips here: those behaviours are pinned by tests/conformance/
test_open_points.py against Google directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from interlock.adapters.cloudrun import CloudRunTrafficRouter
from interlock.adapters.vertex import VertexModelRegistry
from interlock.core.effects import TrafficSplit
from interlock.ports import RevisionSpec

from .conftest import Google

STAND_IN_ONLY = "needs a fault switch only the stand-in has"
VERTEX_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"
OPERATION_TIMEOUT_S = 600


def options(google: Google, default: str | None = None) -> dict[str, str]:
    endpoint = google.endpoint or default
    return {} if endpoint is None else {"api_endpoint": endpoint}


def run_clients(google: Google) -> tuple[Any, Any, Any]:
    from google.cloud import run_v2

    kwargs: dict[str, Any] = {
        "credentials": google.credentials, "transport": "rest", "client_options": options(google)
    }  # fmt: skip
    return run_v2, run_v2.ServicesClient(**kwargs), run_v2.RevisionsClient(**kwargs)


def router(google: Google) -> CloudRunTrafficRouter:
    return CloudRunTrafficRouter(
        google.region, endpoint=google.endpoint, credentials=google.credentials,
        operation_timeout_s=OPERATION_TIMEOUT_S, poll_initial_s=0.5, poll_max_s=5.0,
    )  # fmt: skip


def create_service(google: Google, service_id: str, template: Any) -> str:
    """A Cloud Run service (deleted at teardown) serving `template` 100 % via LATEST."""
    run_v2, services, _ = run_clients(google)
    parent = f"projects/{google.project}/locations/{google.region}"
    name = f"{parent}/services/{service_id}"
    operation = services.create_service(
        parent=parent, service_id=service_id, service=run_v2.Service(template=template)
    )
    google.on_teardown(
        f"Cloud Run service {name}",
        lambda: services.delete_service(name=name).result(timeout=OPERATION_TIMEOUT_S),
    )
    operation.result(timeout=OPERATION_TIMEOUT_S)
    return name


class GoogleRunHarness:
    def __init__(self, google: Google) -> None:
        self.google = google
        self.router = router(google)

    def seed(self, service_id: str, first: RevisionSpec) -> str:
        run_v2 = run_clients(self.google)[0]
        env = [run_v2.EnvVar(name=k, value=v) for k, v in first.env.items()]
        template = run_v2.RevisionTemplate(
            revision=first.name, containers=[run_v2.Container(image=first.image, env=env)]
        )
        return create_service(self.google, service_id, template)

    def make_unavailable(self, times: int) -> None:
        pytest.skip(STAND_IN_ONLY)

    def fail_next_operation(self, message: str, revision_fails: bool = False) -> None:
        pytest.skip(STAND_IN_ONLY)

    def refuse_next_write(self, status: str, message: str) -> None:
        pytest.skip(STAND_IN_ONLY)

    def race_next_write(
        self, service: str, concurrent: Sequence[TrafficSplit], stale_etag: str = "ABORTED"
    ) -> None:
        pytest.skip(STAND_IN_ONLY)

    def delete_revision(self, service: str, revision: str) -> None:
        revisions = run_clients(self.google)[2]
        revisions.delete_revision(name=f"{service}/revisions/{revision}").result(
            timeout=OPERATION_TIMEOUT_S
        )

    def revisions_created(self, service: str) -> int:
        return len(list(run_clients(self.google)[2].list_revisions(parent=service)))


class GoogleVertexHarness:
    def __init__(self, google: Google) -> None:
        if google.bucket is None:
            pytest.skip("INTERLOCK_CONFORMANCE_BUCKET is not set (Vertex needs real artifacts)")
        from google.cloud import aiplatform_v1

        self.google = google
        self.parent = f"projects/{google.project}/locations/{google.region}"
        self.registry = VertexModelRegistry(
            google.region, endpoint=google.endpoint, credentials=google.credentials
        )
        self.models = aiplatform_v1.ModelServiceClient(
            credentials=google.credentials,
            transport="rest",
            client_options=options(google, f"{google.region}-aiplatform.googleapis.com"),
        )
        self._created: set[str] = set()

    def artifact(self, uri: str) -> str:
        """`gs://x/y` as stored for this run: gs://BUCKET/interlock-conformance-SUFFIX/x/y."""
        return f"gs://{self.google.bucket}/interlock-conformance-{self.google.suffix}/{uri[5:]}"

    def seed(
        self, model_id: str, artifact_uri: str, labels: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
    ) -> tuple[str, str]:  # fmt: skip
        from google.cloud import aiplatform_v1

        uri = self.artifact(artifact_uri)
        if self.google.endpoint is None:  # the stand-in reads no artifact
            self._put_artifact(uri)
        parent = f"projects/{self.google.project}/locations/{self.google.region}"
        name = f"{parent}/models/{model_id}"
        model = aiplatform_v1.Model(
            display_name=model_id, artifact_uri=uri, labels=dict(labels or {}),
            version_aliases=list(aliases),
            container_spec=aiplatform_v1.ModelContainerSpec(image_uri=VERTEX_IMAGE),
        )  # fmt: skip
        request: dict[str, Any] = {"parent": parent, "model": model}
        if name in self._created:
            request["parent_model"] = name
        else:
            request["model_id"] = model_id
        response = self.models.upload_model(request=request).result(timeout=OPERATION_TIMEOUT_S)
        if name not in self._created:
            self._created.add(name)
            self.google.on_teardown(
                f"Vertex model {name}",
                lambda: self.models.delete_model(name=name).result(timeout=OPERATION_TIMEOUT_S),
            )
        return str(response.model), str(response.model_version_id)

    def make_unavailable(self, times: int) -> None:
        pytest.skip(STAND_IN_ONLY)

    def _put_artifact(self, uri: str) -> None:
        """A tiny model.json under `uri` (the JSON API; no storage client needed)."""
        from urllib.parse import quote

        from google.auth.transport.requests import AuthorizedSession

        bucket, _, prefix = uri[5:].partition("/")
        session = AuthorizedSession(self.google.credentials)
        obj = f"{prefix.rstrip('/')}/model.json"
        reply = session.post(
            f"https://storage.googleapis.com/upload/storage/v1/b/{bucket}/o",
            params={"uploadType": "media", "name": obj},
            data=b'{"format": "interlock.conformance"}',
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        reply.raise_for_status()
        self.google.on_teardown(
            f"gs://{bucket}/{obj}",
            lambda: session.delete(
                f"https://storage.googleapis.com/storage/v1/b/{bucket}/o/{quote(obj, safe='')}",
                timeout=60,
            ).raise_for_status(),
        )
