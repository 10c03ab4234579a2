"""Contract: raw HTTP behaviours of the stand-in that the GAPIC clients rely on."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from interlock_dev.processes import ServiceProcess, free_port, http_ok, wait_until
from tests.fixtures.standin import StandInServer, unique_id

INT_ENUMS = "%24alt=json%3Benum-encoding%3Dint"


def service_with_revision(standin: StandInServer) -> tuple[str, str]:
    service_id = unique_id("svc")
    revision = f"{service_id}-v1"
    return standin.create_service(service_id, revision, "img:1"), revision


class TestStandInHttp:
    def test_error_has_google_json_shape_when_model_unknown(self, standin: StandInServer) -> None:
        status, body = standin.request("GET", f"/v1/{standin.parent}/models/nope")
        assert status == 404
        assert body["error"]["code"] == 404
        assert body["error"]["status"] == "NOT_FOUND"
        assert "nope" in body["error"]["message"]

    def test_error_is_invalid_argument_when_body_is_not_json(self, standin: StandInServer) -> None:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(
            f"{standin.endpoint}/v1/{standin.parent}/models:upload", data=b"{nope", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 400
        assert b'"INVALID_ARGUMENT"' in info.value.read()

    def test_update_is_polled_operation_when_service_patched(self, standin: StandInServer) -> None:
        service, revision = service_with_revision(standin)
        traffic = [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision,
                    "percent": 100, "tag": "champion"}]  # fmt: skip
        current = standin.ok("GET", f"/v2/{service}")
        op = standin.ok("PATCH", f"/v2/{service}", {**current, "traffic": traffic})
        assert op["done"] is False
        assert op["name"].startswith(f"{standin.parent}/operations/")
        assert standin.ok("GET", f"/v2/{service}")["reconciling"] is True
        response = standin.wait_operation(op)
        assert response["@type"] == "type.googleapis.com/google.cloud.run.v2.Service"
        assert response["trafficStatuses"][0]["tag"] == "champion"
        after = standin.ok("GET", f"/v2/{service}")
        assert after["reconciling"] is False
        assert after["etag"] != current["etag"]
        assert after["latestReadyRevision"] == f"{service}/revisions/{revision}"

    def test_enums_are_numbers_when_client_asks_for_int_encoding(
        self, standin: StandInServer
    ) -> None:
        service, _ = service_with_revision(standin)
        named = standin.ok("GET", f"/v2/{service}")
        numbered = standin.ok("GET", f"/v2/{service}?{INT_ENUMS}")
        assert named["trafficStatuses"][0]["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
        assert numbered["trafficStatuses"][0]["type"] == 1
        assert numbered["terminalCondition"]["state"] == 4

    def test_patch_is_aborted_when_etag_is_stale(self, standin: StandInServer) -> None:
        service, _ = service_with_revision(standin)
        stale = standin.ok("GET", f"/v2/{service}")
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}", stale))
        status, body = standin.request("PATCH", f"/v2/{service}", stale)
        assert (status, body["error"]["status"]) == (409, "ABORTED")

    def test_reused_revision_name_is_already_exists_when_template_differs(
        self, standin: StandInServer
    ) -> None:
        service, revision = service_with_revision(standin)
        current = standin.ok("GET", f"/v2/{service}")
        current["template"]["containers"][0]["image"] = "img:2"
        current["template"]["revision"] = revision
        status, body = standin.request("PATCH", f"/v2/{service}", current)
        assert (status, body["error"]["status"]) == (409, "ALREADY_EXISTS")
        assert "different configuration" in body["error"]["message"]

    def test_injected_fault_replies_then_expires_when_count_used(
        self, standin: StandInServer
    ) -> None:
        service, _ = service_with_revision(standin)
        standin.set_fault(match=f"GET /v2/{service}", status=503, count=1)
        status, body = standin.request("GET", f"/v2/{service}")
        assert (status, body["error"]["status"]) == (503, "UNAVAILABLE")
        assert standin.request("GET", f"/v2/{service}")[0] == 200

    def test_operation_ends_with_error_when_operation_fault_set(
        self, standin: StandInServer
    ) -> None:
        service, _ = service_with_revision(standin)
        standin.set_fault(operation_error={"code": 9, "message": "revision not ready"}, count=1)
        op = standin.ok("PATCH", f"/v2/{service}", standin.ok("GET", f"/v2/{service}"))
        time.sleep(0.3)
        done = standin.ok("GET", f"/v2/{op['name']}")
        assert done["done"] is True
        assert done["error"] == {"code": 9, "message": "revision not ready"}
        failed = standin.ok("GET", f"/v2/{service}")["terminalCondition"]
        assert failed["state"] == "CONDITION_FAILED"

    def test_vertex_upload_completes_via_gapic_when_polled_at_ui_path(
        self, standin: StandInServer
    ) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform_v1

        client = aiplatform_v1.ModelServiceClient(
            transport="rest",
            client_options={"api_endpoint": standin.endpoint},
            credentials=AnonymousCredentials(),
        )
        model = {"display_name": "m", "container_spec": {"image_uri": "img"}}
        model_id = unique_id("m")
        op = client.upload_model(
            request={"parent": standin.parent, "model_id": model_id, "model": model}
        )
        result = op.result(timeout=10)
        assert (result.model, result.model_version_id) == (
            f"{standin.parent}/models/{model_id}",
            "1",
        )


def test_state_survives_restart_when_same_db(tmp_path: Path) -> None:
    def start(port: int) -> ServiceProcess:
        argv = [sys.executable, "-m", "interlock_dev.standin", "--port", str(port),
                "--db", str(tmp_path / "s.db"), "--operation-delay", "0"]  # fmt: skip
        process = ServiceProcess("standin-restart", argv, tmp_path / "s.log").start()
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/_health"), 20, "stand-in", process)
        return process

    port = free_port(47195)
    process = start(port)
    try:
        server = StandInServer(
            f"http://127.0.0.1:{port}", "interlock-local", "us-central1", process
        )
        model, version = server.upload_model_version("kept", "gs://b/1")
    finally:
        process.stop()
    process = start(port)
    try:
        assert server.ok("GET", f"/v1/{model}@{version}")["artifactUri"] == "gs://b/1"
    finally:
        process.stop()
