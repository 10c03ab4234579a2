"""Contract: raw HTTP behaviours of the stand-in that the GAPIC clients rely on."""

from __future__ import annotations

import sys
import time
import uuid
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
        assert result.model.endswith(f"/locations/{standin.location}/models/{model_id}")
        assert result.model_version_id == "1"


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


BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"


def pinned(revision: str, tag: str = "") -> list[dict[str, object]]:
    return [{"type": BY_REVISION, "revision": revision, "percent": 100, "tag": tag}]


def add_revision(standin: StandInServer, service: str, revision: str, image: str) -> dict:
    """PATCH a new template (traffic pinned to what serves); the finished operation."""
    current = standin.ok("GET", f"/v2/{service}")
    current["template"]["revision"] = revision
    current["template"]["containers"][0]["image"] = image
    old = current["latestReadyRevision"].rsplit("/", 1)[-1]
    op = standin.ok("PATCH", f"/v2/{service}", {**current, "traffic": pinned(old)})
    time.sleep(0.3)
    return standin.ok("GET", f"/v2/{op['name']}")


class TestCloudRunAsGoogleBehaves:
    """One test per finding of ../shared/reference/google-api-fidelity.md (Cloud Run)."""

    def test_failed_revision_stays_not_ready_when_its_rollout_fails(
        self, standin: StandInServer
    ) -> None:  # finding 1
        service, first = service_with_revision(standin)
        standin.set_fault(
            match="PATCH", operation_error={"code": 9, "message": "exit 1"}, revision_fails=True
        )
        done = add_revision(standin, service, first.replace("-v1", "-v2"), "img:2")
        assert done["error"]["code"] == 9
        revision = standin.ok("GET", f"/v2/{service}/revisions/{first.replace('-v1', '-v2')}")
        [ready] = [c for c in revision["conditions"] if c["type"] == "Ready"]
        assert (ready["state"], ready["message"]) == ("CONDITION_FAILED", "exit 1")
        after = standin.ok("GET", f"/v2/{service}")
        assert after["latestCreatedRevision"] == revision["name"]
        assert after["latestReadyRevision"] == f"{service}/revisions/{first}"
        assert after["observedGeneration"] == "1"  # the last serving generation

    def test_revision_fails_when_the_echoed_startup_probe_misses_the_new_port(
        self, standin: StandInServer
    ) -> None:  # findings 1 and 5
        service, first = service_with_revision(standin)
        current = standin.ok("GET", f"/v2/{service}")
        current["template"]["revision"] = first.replace("-v1", "-v2")
        current["template"]["containers"][0]["ports"] = [{"containerPort": 9090}]
        op = standin.ok("PATCH", f"/v2/{service}", {**current, "traffic": pinned(first)})
        time.sleep(0.3)
        assert "STARTUP TCP probe" in standin.ok("GET", f"/v2/{op['name']}")["error"]["message"]

    def test_latest_status_names_no_revision_when_traffic_is_latest(
        self, standin: StandInServer
    ) -> None:  # finding 2
        service, first = service_with_revision(standin)
        got = standin.ok("GET", f"/v2/{service}")
        assert got["trafficStatuses"] == [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}
        ]
        assert got["latestReadyRevision"] == f"{service}/revisions/{first}"

    def test_pinning_latest_to_its_revision_counts_as_no_traffic_change(
        self, standin: StandInServer
    ) -> None:  # finding 2: what LATEST reached is judged before the new revision exists
        service, first = service_with_revision(standin)
        before = standin.state()["counters"].get("traffic_updates", 0)
        assert "error" not in add_revision(standin, service, first.replace("-v1", "-v2"), "img:2")
        assert standin.state()["counters"].get("traffic_updates", 0) == before

    def test_tag_is_invalid_argument_when_tag_and_service_exceed_46_characters(
        self, standin: StandInServer
    ) -> None:  # finding 3
        service_id = unique_id("s" * 29)  # 38 characters
        service = standin.create_service(service_id, f"{service_id}-v1", "img:1")
        status, body = standin.request(
            "PATCH", f"/v2/{service}?updateMask=traffic",
            {"traffic": pinned(f"{service_id}-v1", "candidate")},
        )  # fmt: skip
        assert status == 400
        assert "cannot exceed 46 characters" in body["error"]["message"]
        ok = standin.ok(
            "PATCH", f"/v2/{service}?updateMask=traffic",
            {"traffic": pinned(f"{service_id}-v1", "champion")},
        )  # fmt: skip
        assert standin.wait_operation(ok)["trafficStatuses"][0]["tag"] == "champion"

    def test_unknown_revision_fails_the_operation_not_the_request(
        self, standin: StandInServer
    ) -> None:  # finding 4
        service, _ = service_with_revision(standin)
        op = standin.ok(
            "PATCH", f"/v2/{service}?updateMask=traffic", {"traffic": pinned("nope-v9")}
        )
        time.sleep(0.3)
        error = standin.ok("GET", f"/v2/{op['name']}")["error"]
        assert error["code"] == 13
        assert "does not exist or is deleted" in error["message"]

    def test_template_is_echoed_with_server_defaults_and_clearing_its_name_deploys(
        self, standin: StandInServer
    ) -> None:  # finding 5
        service, _ = service_with_revision(standin)
        current = standin.ok("GET", f"/v2/{service}")
        container = current["template"]["containers"][0]
        assert container["startupProbe"]["tcpSocket"] == {"port": 8080}
        assert container["resources"]["cpuIdle"] is True
        assert current["template"]["scaling"] == {"maxInstanceCount": 100}
        assert current["template"]["serviceAccount"].endswith(
            "-compute@developer.gserviceaccount.com"
        )
        del current["template"]["revision"]
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}", current))
        assert len(standin.state()["services"][service]["revisions"]) == 2

    def test_stale_etag_is_failed_precondition_when_switched(
        self, standin: StandInServer
    ) -> None:  # finding 7
        service, _ = service_with_revision(standin)
        standin.set_fault(stale_etag="FAILED_PRECONDITION")
        stale = standin.ok("GET", f"/v2/{service}")
        op = standin.ok("PATCH", f"/v2/{service}", stale)
        written = standin.ok("GET", f"/v2/{service}")["etag"]
        standin.wait_operation(op)
        assert standin.ok("GET", f"/v2/{service}")["etag"] == written  # writes only
        status, body = standin.request("PATCH", f"/v2/{service}", stale)
        assert (status, body["error"]["status"]) == (400, "FAILED_PRECONDITION")

    def test_validate_only_persists_nothing(self, standin: StandInServer) -> None:  # finding 10
        service, first = service_with_revision(standin)
        current = standin.ok("GET", f"/v2/{service}")
        current["template"]["revision"] = first.replace("-v1", "-v2")
        op = standin.ok("PATCH", f"/v2/{service}?validateOnly=true", current)
        assert op["done"] is True
        after = standin.ok("GET", f"/v2/{service}")
        assert (after["generation"], after["etag"]) == (current["generation"], current["etag"])
        assert standin.state()["services"][service]["revisions"] == [f"{service}/revisions/{first}"]

    def test_force_new_revision_deploys_an_unchanged_template(
        self, standin: StandInServer
    ) -> None:  # finding 10
        service, _ = service_with_revision(standin)
        current = standin.ok("GET", f"/v2/{service}")
        del current["template"]["revision"]
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}", current))
        again = standin.ok("GET", f"/v2/{service}")
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}", again))
        assert len(standin.state()["services"][service]["revisions"]) == 2
        forced = standin.ok("GET", f"/v2/{service}")
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}?forceNewRevision=true", forced))
        assert len(standin.state()["services"][service]["revisions"]) == 3

    def test_patch_without_mask_replaces_and_nested_mask_touches_one_field(
        self, standin: StandInServer
    ) -> None:  # finding 10
        service, _ = service_with_revision(standin)
        current = standin.ok("GET", f"/v2/{service}")
        standin.wait_operation(
            standin.ok("PATCH", f"/v2/{service}", {**current, "labels": {"a": "1"}})
        )
        revision = current["template"]["revision"].replace("-v1", "-v2")
        update = {
            "template": {"containers": [{"image": "img:2"}], "revision": revision},
            "labels": {"b": "2"},
        }
        mask = "template.containers,template.revision"
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}?updateMask={mask}", update))
        after = standin.ok("GET", f"/v2/{service}")
        assert after["labels"] == {"a": "1"}  # not in the mask
        assert after["template"]["containers"][0]["image"] == "img:2"
        assert after["template"]["timeout"] == "300s"  # the rest of the template kept
        body = {k: v for k, v in after.items() if k != "labels"}
        standin.wait_operation(standin.ok("PATCH", f"/v2/{service}", body))
        assert "labels" not in standin.ok("GET", f"/v2/{service}")


class TestVertexAsGoogleBehaves:
    """One test per finding of ../shared/reference/google-api-fidelity.md (Vertex AI)."""

    def test_names_carry_the_project_number_and_list_versions_the_version(
        self, standin: StandInServer
    ) -> None:  # finding 8
        model_id = unique_id("m")
        name, _ = standin.upload_model_version(model_id, "gs://b/1")
        assert name.split("/")[1].isdigit()
        by_id = f"/v1/{standin.parent}/models/{model_id}"
        assert standin.ok("GET", by_id)["name"] == name
        listed = standin.ok("GET", f"{by_id}:listVersions")["models"]
        assert [m["name"] for m in listed] == [f"{name}@1"]

    @pytest.mark.parametrize(
        ("model_id", "status"),
        [("churn_model", 200), ("_x", 200), ("9abc", 400), ("-ab", 400), ("a" * 64, 400)],
    )
    def test_model_id_follows_googles_pattern(
        self, standin: StandInServer, model_id: str, status: int
    ) -> None:  # finding 11
        unique = model_id + uuid.uuid4().hex[:4] if status == 200 else model_id
        body = {
            "modelId": unique,
            "model": {"displayName": "m", "containerSpec": {"imageUri": "i"}},
        }
        assert standin.request("POST", f"/v1/{standin.parent}/models:upload", body)[0] == status

    @pytest.mark.parametrize(
        ("labels", "status", "named"),
        [
            ({"interlock-run": "0" * 32, "9lives": "", "ünïcode": "ß"}, 200, None),
            ({"Interlock-Run": "x"}, 400, "Label key 'Interlock-Run' is invalid"),
            ({"-x": "x"}, 400, "Label key '-x' is invalid"),
            ({"k" * 64: "x"}, 400, "is invalid"),
            ({"run": "gcs__R1"}, 400, "Label value 'gcs__R1' of key 'run' is invalid"),
            ({"uri": "gs://b/n#1"}, 400, "of key 'uri' is invalid"),
            ({"n": "x" * 64}, 400, "of key 'n' is invalid"),
            ({f"k{i}": "v" for i in range(65)}, 400, "65 labels"),
        ],
    )
    def test_labels_follow_googles_rules_and_a_refusal_names_the_label(
        self, standin: StandInServer, labels: dict[str, str], status: int, named: str | None
    ) -> None:
        body = {
            "modelId": unique_id("m"),
            "model": {"displayName": "m", "containerSpec": {"imageUri": "i"}, "labels": labels},
        }
        code, reply = standin.request("POST", f"/v1/{standin.parent}/models:upload", body)
        assert code == status, reply
        if named is not None:
            assert reply["error"]["status"] == "INVALID_ARGUMENT"
            assert "Field: model.labels" in reply["error"]["message"]
            assert named in reply["error"]["message"]

    def test_merge_needs_a_version_id_not_an_alias(self, standin: StandInServer) -> None:
        name, _ = standin.upload_model_version(unique_id("m"), "gs://b/1")  # finding 11
        body = {"versionAliases": ["champion"]}
        assert standin.request("POST", f"/v1/{name}@default:mergeVersionAliases", body)[0] == 400
        assert standin.request("POST", f"/v1/{name}@1:mergeVersionAliases", body)[0] == 200

    def test_second_upload_of_a_new_model_id_is_already_exists_while_the_first_runs(
        self, standin: StandInServer
    ) -> None:  # finding 12
        body = {
            "modelId": unique_id("m"),
            "model": {"displayName": "d", "containerSpec": {"imageUri": "i"}},
        }
        first = standin.ok("POST", f"/v1/{standin.parent}/models:upload", body)
        status, reply = standin.request("POST", f"/v1/{standin.parent}/models:upload", body)
        assert (status, reply["error"]["status"]) == (409, "ALREADY_EXISTS")
        standin.wait_operation(first)

    def test_display_name_belongs_to_the_model_not_the_version(
        self, standin: StandInServer
    ) -> None:  # finding 12
        model_id = unique_id("m")
        name, _ = standin.upload_model_version(model_id, "gs://b/1")
        body = {
            "parentModel": name,
            "model": {"displayName": "renamed", "containerSpec": {"imageUri": "i"}},
        }
        standin.wait_operation(standin.ok("POST", f"/v1/{standin.parent}/models:upload", body))
        assert standin.ok("GET", f"/v1/{name}@2")["displayName"] == model_id
