"""Contract: our JSON adapters and Google's generated clients (REST transport) agree, call for call.

The adapters for Vertex AI, Cloud Run and Pub/Sub speak the REST APIs as plain JSON
(`google_rest`), and Monitoring's builds the library's types by hand: nothing but these tests
keeps them what the official clients are. For every remote call an adapter makes, the same call
goes through `aiplatform_v1`, `run_v2`, `pubsub_v1` (or, for Monitoring, the library's own HTTP
rule transcoded as a GAPIC REST transport does) and the tests check that (a) the official client
accepts the stand-in's answers: parses them, completes the operations, raises the api-core
exception a NOT_FOUND, a stale etag or an INVALID_ARGUMENT maps to; and (b) ours agrees with it
on the result for the same state, on how an error is judged (`google_errors`), and on what went
over the wire (the stand-in's request log): method, path, query parameters and body.

Two differences are by design. The official clients ask for `$alt=json;enum-encoding=int` and
send enums as numbers; ours reads and writes enum names (Google and the stand-in take both).
And proto3 JSON leaves out default values (false, 0, empty) that ours echoes back from a read;
they mean the same on the server, so bodies are compared with both normalised away.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials

from interlock.adapters.cloudrun import CloudRunTrafficRouter
from interlock.adapters.google_errors import rpc_status, translate
from interlock.adapters.monitoring import CloudMonitoringMetrics
from interlock.adapters.pubsub import PubSubEventBus
from interlock.adapters.vertex import VertexModelRegistry
from interlock.core.effects import TrafficSplit
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import Message, RevisionSpec
from interlock_dev.standin.discovery import Discovery
from interlock_dev.standin.wire import enums_to_names
from tests.fixtures.standin import StandInServer, unique_id

ENUM_ALT = ("$alt", "json;enum-encoding=int")
IMAGE = "us-docker.pkg.dev/interlock/serve:1"


# --- comparing what arrived -----------------------------------------------------------------------


def proto3(value: Any) -> Any:
    """JSON as proto3 means it: enum names, default values (false, 0, "", empty) left out."""
    if isinstance(value, dict):
        kept = {k: proto3(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, False, 0, "", [], {})}
    if isinstance(value, list):
        return [proto3(v) for v in value]
    return value


def wire(entry: dict[str, Any], *renames: tuple[str, str]) -> dict[str, Any]:
    """A recorded request without what differs by design, resource ids renamed to placeholders."""
    query = sorted(tuple(pair) for pair in entry["query"] if tuple(pair) != ENUM_ALT)
    body = None if entry["body"] is None else proto3(enums_to_names(entry["body"]))
    text = json.dumps(
        {"method": entry["method"], "path": entry["path"], "query": query, "body": body}
    )
    for old, new in renames:
        text = text.replace(old, new)
    found: dict[str, Any] = json.loads(text)
    return found


def official_only(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests a generated client sent (it always asks for integer enums)."""
    assert all(
        ENUM_ALT in map(tuple, e["query"]) for e in entries if "/operations/" not in e["path"]
    )
    return entries


@functools.cache
def discovery() -> Discovery:
    return Discovery()


def finished(operation: Any) -> Any:
    """An official client's LRO result, polled as api-core does but from 50 ms, not 1 s."""
    from google.api_core.future import polling

    return operation.result(timeout=10, polling=polling.DEFAULT_POLLING.with_delay(0.05, 0.2))


def kind_of(error: Exception) -> type[Exception]:
    return PermanentError if isinstance(error, PermanentError) else TransientError


# --- clients ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def official(standin_server: StandInServer) -> Any:
    from google.cloud import aiplatform_v1, run_v2

    options = {"api_endpoint": standin_server.endpoint}
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]

    class Clients:
        models = aiplatform_v1.ModelServiceClient(
            transport="rest", client_options=options, credentials=anonymous
        )
        services = run_v2.ServicesClient(
            transport="rest", client_options=options, credentials=anonymous
        )
        revisions = run_v2.RevisionsClient(
            transport="rest", client_options=options, credentials=anonymous
        )

    return Clients


@pytest.fixture
def rec(standin: StandInServer) -> Iterator[StandInServer]:
    """The stand-in with its request log on (off again after the test)."""
    standin.record_requests()
    try:
        yield standin
    finally:
        standin.ok("DELETE", "/_requests")


# --- Vertex AI Model Registry ------------------------------------------------------------------------


def upload(official: Any, standin: StandInServer, model_id: str, n: int) -> str:
    """`n` versions uploaded by the official client (its LROs must complete); the model's name
    as the caller spells it (by project id)."""
    model = f"{standin.parent}/models/{model_id}"
    for i in range(1, n + 1):
        spec = {
            "display_name": model_id,
            "artifact_uri": f"gs://bucket/{model_id}/{i}",
            "container_spec": {"image_uri": IMAGE},
            "labels": {"run": f"r{i}"},
            "version_aliases": [f"v{i}-cand"] if i > 1 else [],
        }
        request: dict[str, Any] = {"parent": standin.parent, "model": spec}
        request.update({"model_id": model_id} if i == 1 else {"parent_model": model})
        result = finished(official.models.upload_model(request=request))
        assert (result.model_version_id, result.model.rsplit("/", 1)[-1]) == (str(i), model_id)
    return model


class TestVertexModelRegistry:
    def test_versions_agree_when_read_by_both_clients(
        self, rec: StandInServer, official: Any
    ) -> None:
        model = upload(official, rec, unique_id("m"), 2)
        ours = VertexModelRegistry(rec.location, endpoint=rec.endpoint)
        seq = rec.record_requests()
        mine = [ours.get_version(model, "1"), ours.get_version(model, "v2-cand")]
        listed = ours.list_versions(model)
        ours_wire = rec.requests_since(seq, "/models/")
        seq = rec.record_requests()
        theirs = [official.models.get_model(name=f"{model}@{v}") for v in ("1", "v2-cand")]
        their_list = list(official.models.list_model_versions(name=model))
        official_wire = official_only(rec.requests_since(seq, "/models/"))

        for got, want in zip([*mine, *listed], [*theirs, *their_list], strict=True):
            assert got.version == want.version_id
            assert got.artifact_uri == want.artifact_uri
            assert got.aliases == tuple(sorted(want.version_aliases))
            assert got.labels == dict(want.labels)
        assert [v.version for v in listed] == ["1", "2"]
        assert [wire(e) for e in ours_wire] == [wire(e) for e in official_wire]

        # Pages: the official pager follows the stand-in's tokens with the parameter ours sends.
        seq = rec.record_requests()
        paged = official.models.list_model_versions(request={"name": model, "page_size": 1})
        assert [m.version_id for m in paged] == ["1", "2"]
        second = rec.requests_since(seq, ":listVersions")[1]
        assert ["pageToken", "1"] in second["query"]

    def test_merged_aliases_and_bodies_agree_when_merged_by_both_clients(
        self, rec: StandInServer, official: Any
    ) -> None:
        model = upload(official, rec, unique_id("m"), 2)
        ours = VertexModelRegistry(rec.location, endpoint=rec.endpoint)
        seq = rec.record_requests()
        merged = ours.merge_aliases(model, "2", ["champion"], ["v2-cand"])
        ours_wire = rec.requests_since(seq, "/models/")
        seq = rec.record_requests()
        theirs = official.models.merge_version_aliases(
            name=f"{model}@2", version_aliases=["champion", "-v2-cand"]
        )
        official_wire = official_only(rec.requests_since(seq, "/models/"))

        assert merged.aliases == tuple(sorted(theirs.version_aliases)) == ("champion",)
        assert [wire(e) for e in ours_wire] == [wire(e) for e in official_wire]
        assert ours_wire[0]["body"] == {"versionAliases": ["champion", "-v2-cand"]}

    @pytest.mark.parametrize(
        ("call", "exception", "status"),
        [
            ("get_missing_model", gexc.NotFound, "NOT_FOUND"),
            ("merge_into_an_alias", gexc.BadRequest, "INVALID_ARGUMENT"),
            ("merge_a_bad_alias", gexc.BadRequest, "INVALID_ARGUMENT"),
        ],
    )
    def test_errors_are_judged_alike_when_vertex_refuses(
        self, rec: StandInServer, official: Any, call: str, exception: type, status: str
    ) -> None:
        model = upload(official, rec, unique_id("m"), 1)
        ours = VertexModelRegistry(rec.location, endpoint=rec.endpoint)
        missing = f"{rec.parent}/models/{unique_id('gone')}"
        calls = {
            "get_missing_model": (
                lambda: ours.get_version(missing, "1"),
                lambda: official.models.get_model(name=f"{missing}@1"),
            ),
            "merge_into_an_alias": (
                lambda: ours.merge_aliases(model, "default", ["champion"], []),
                lambda: official.models.merge_version_aliases(
                    name=f"{model}@default", version_aliases=["champion"]
                ),
            ),
            "merge_a_bad_alias": (
                lambda: ours.merge_aliases(model, "1", ["Not_An_Alias"], []),
                lambda: official.models.merge_version_aliases(
                    name=f"{model}@1", version_aliases=["Not_An_Alias"]
                ),
            ),
        }
        mine, theirs = calls[call]
        with pytest.raises(PermanentError) as our_error:
            mine()
        with pytest.raises(exception) as their_error:
            theirs()
        assert rpc_status(their_error.value) == status
        assert status in str(our_error.value)
        assert kind_of(translate(their_error.value, "x", call)) is PermanentError

    def test_a_label_google_refuses_is_invalid_argument_naming_it_for_the_official_client(
        self, standin: StandInServer, official: Any
    ) -> None:
        spec = {
            "display_name": "m",
            "container_spec": {"image_uri": IMAGE},
            "labels": {"interlock-input-md5": "kAFQmDzST7DWlj99KOF/cg=="},  # base64: not a label
        }
        request = {"parent": standin.parent, "model": spec, "model_id": unique_id("m")}
        with pytest.raises(gexc.BadRequest) as refused:
            official.models.upload_model(request=request)
        assert rpc_status(refused.value) == "INVALID_ARGUMENT"
        assert "key 'interlock-input-md5' is invalid" in str(refused.value)


# --- Cloud Run Admin v2 -----------------------------------------------------------------------------


def twin_services(standin: StandInServer) -> tuple[str, str, str, str]:
    """Two services seeded alike (revision `<id>-v1` serving 100 %): (name A, id A, name B, id B)."""
    a, b = unique_id("svc"), unique_id("svc")
    env = {"MODEL_URI": "gs://bucket/m/1"}
    return (
        standin.create_service(a, f"{a}-v1", IMAGE, env), a,
        standin.create_service(b, f"{b}-v1", IMAGE, env), b,
    )  # fmt: skip


def served_by(official: Any, name: str) -> list[tuple[str, int, str]]:
    """Traffic as the official client parses it, LATEST resolved as Cloud Run documents it."""
    service = official.services.get_service(name=name)
    latest = service.latest_ready_revision.rsplit("/", 1)[-1]
    return sorted((s.revision or latest, s.percent, s.tag) for s in service.traffic_statuses)


class TestCloudRunTrafficRouter:
    def test_traffic_and_revisions_agree_when_read_by_both_clients(
        self, rec: StandInServer, official: Any
    ) -> None:
        name, sid, _, _ = twin_services(rec)
        ours = CloudRunTrafficRouter(rec.location, endpoint=rec.endpoint)
        seq = rec.record_requests()
        mine = ours.get_traffic(name)
        accepted = ours.ensure_revision(name, RevisionSpec(f"{sid}-v1", IMAGE, {"MODEL_URI": "gs://bucket/m/1"}))  # fmt: skip
        ours_wire = rec.requests_since(seq, sid)
        seq = rec.record_requests()
        theirs = served_by(official, name)
        revision = official.revisions.get_revision(name=f"{name}/revisions/{sid}-v1")
        listed = list(official.revisions.list_revisions(parent=name))
        official_wire = official_only(rec.requests_since(seq, sid))

        assert sorted((s.revision, s.percent, s.tag or "") for s in mine) == theirs
        assert theirs == [(f"{sid}-v1", 100, "")]
        assert accepted == revision.name.rsplit("/", 1)[-1]
        assert revision.conditions[0].state.name == "CONDITION_SUCCEEDED"
        assert [r.name for r in listed] == [revision.name]
        # Ours: get revision, then get service; the official: get service, then get revision.
        assert sorted(map(json.dumps, (wire(e) for e in ours_wire))) == sorted(
            map(json.dumps, (wire(e) for e in official_wire[:2]))
        )

    def test_writes_match_the_official_clients_when_a_revision_is_added_and_traffic_set(
        self, rec: StandInServer, official: Any
    ) -> None:
        from google.cloud import run_v2
        from google.protobuf import field_mask_pb2

        a, a_id, b, b_id = twin_services(rec)
        ours = CloudRunTrafficRouter(rec.location, endpoint=rec.endpoint, poll_initial_s=0.05)
        env = {"MODEL_URI": "gs://bucket/m/2"}
        seq = rec.record_requests()
        ours.ensure_revision(a, RevisionSpec(f"{a_id}-v2", IMAGE, env, labels={"v": "2"}))
        splits = [TrafficSplit(f"{a_id}-v1", 90), TrafficSplit(f"{a_id}-v2", 10, "canary")]
        ours.set_traffic(a, splits)
        ours_patches = [e for e in rec.requests_since(seq, a_id) if e["method"] == "PATCH"]

        # The same two writes, as a caller of run_v2 makes them: read, change, update, wait.
        seq = rec.record_requests()
        service = official.services.get_service(name=b)
        service.template.revision = f"{b_id}-v2"
        service.template.labels = {"v": "2"}
        service.template.containers[0].image = IMAGE
        del service.template.containers[0].env[:]
        service.template.containers[0].env.append(run_v2.EnvVar(name="MODEL_URI", value=env["MODEL_URI"]))  # fmt: skip
        service.template.containers[0].ports[0].container_port = 8080
        revision = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
        service.traffic = [run_v2.TrafficTarget(type_=revision, revision=f"{b_id}-v1", percent=100)]
        finished(official.services.update_service(service=service))
        service = official.services.get_service(name=b)
        service.traffic = [
            run_v2.TrafficTarget(type_=revision, revision=f"{b_id}-v1", percent=90),
            run_v2.TrafficTarget(type_=revision, revision=f"{b_id}-v2", percent=10, tag="canary"),
        ]
        mask = field_mask_pb2.FieldMask(paths=["traffic"])
        done = finished(official.services.update_service(service=service, update_mask=mask))
        their_patches = [e for e in rec.requests_since(seq, b_id) if e["method"] == "PATCH"]

        assert served_by(official, a) == [
            (f"{a_id}-v1", 90, ""), (f"{a_id}-v2", 10, "canary")
        ] == [(r.replace(b_id, a_id), p, t) for r, p, t in served_by(official, b)]  # fmt: skip
        assert [s.percent for s in done.traffic_statuses] == [90, 10]
        assert [r.name.rsplit("/", 1)[-1] for r in official.revisions.list_revisions(parent=a)] == [
            f"{a_id}-v1", f"{a_id}-v2"
        ]  # fmt: skip
        # Method, path, update mask, body: output-only fields, etag and all, are echoed alike.
        assert len(ours_patches) == len(their_patches) == 2
        for mine, theirs in zip(ours_patches, their_patches, strict=True):
            assert "etag" in mine["body"] and "etag" in theirs["body"]
            mine_w, theirs_w = wire(mine, (a_id, "S")), wire(theirs, (b_id, "S"))
            for body in (mine_w["body"], theirs_w["body"]):
                for key in ("etag", "uid", "createTime", "updateTime", "uri", "urls", "conditions",
                            "terminalCondition", "generation", "observedGeneration"):  # fmt: skip
                    body.pop(key, None)
            assert mine_w == theirs_w

    @pytest.mark.parametrize("reply", ["ABORTED", "FAILED_PRECONDITION"])
    def test_stale_etag_is_a_conflict_for_both_clients_when_another_writer_came_first(
        self, rec: StandInServer, official: Any, reply: str
    ) -> None:
        name, sid, _, _ = twin_services(rec)
        rec.set_fault(stale_etag=reply)
        stale = official.services.get_service(name=name)
        finished(official.services.update_service(service=stale))  # the etag moves on
        with pytest.raises(gexc.GoogleAPICallError) as their_error:
            official.services.update_service(service=stale)
        expected = gexc.Conflict if reply == "ABORTED" else gexc.BadRequest
        assert type(their_error.value) is expected
        assert rpc_status(their_error.value) == reply

        # Ours meets the same race for real: its write waits in the stand-in (a latency fault)
        # while the official client writes, so the etag it carries is stale when it lands.
        ours = CloudRunTrafficRouter(rec.location, endpoint=rec.endpoint)
        seq = rec.record_requests()
        rec.set_fault(match=f"PATCH /v2/{name}", latency_s=1.0, count=1)
        errors: list[Exception] = []

        def write() -> None:
            try:
                ours.set_traffic(name, [TrafficSplit(f"{sid}-v1", 100)])
            except Exception as e:
                errors.append(e)

        thread = threading.Thread(target=write)
        thread.start()
        arrived = threading.Event()
        for _ in range(200):
            if any(e["method"] == "PATCH" for e in rec.requests_since(seq, sid)):
                arrived.set()
                break
            arrived.wait(0.01)
        assert arrived.is_set(), "our write never reached the stand-in"
        current = official.services.get_service(name=name)
        official.services.update_service(service=current)
        thread.join(10)
        assert len(errors) == 1 and isinstance(errors[0], TransientError), errors
        assert "conflicting writer" in str(errors[0])

    def test_errors_are_judged_alike_when_cloud_run_refuses(
        self, rec: StandInServer, official: Any
    ) -> None:
        from google.cloud import run_v2

        name, sid, _, _ = twin_services(rec)
        ours = CloudRunTrafficRouter(rec.location, endpoint=rec.endpoint)
        missing = f"{rec.parent}/services/{unique_id('gone')}"
        with pytest.raises(PermanentError) as our_missing:
            ours.get_traffic(missing)
        with pytest.raises(gexc.NotFound) as their_missing:
            official.services.get_service(name=missing)
        assert "NOT_FOUND" in str(our_missing.value)
        assert kind_of(translate(their_missing.value, "x", "get")) is PermanentError

        # Traffic that does not add up to 100 %: refused at once, by both, as INVALID_ARGUMENT.
        with pytest.raises(PermanentError) as our_invalid:
            ours.set_traffic(name, [TrafficSplit(f"{sid}-v1", 90)])
        service = official.services.get_service(name=name)
        revision = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
        service.traffic = [run_v2.TrafficTarget(type_=revision, revision=f"{sid}-v1", percent=90)]
        with pytest.raises(gexc.BadRequest) as their_invalid:
            official.services.update_service(service=service)
        assert rpc_status(their_invalid.value) == "INVALID_ARGUMENT"
        assert "INVALID_ARGUMENT" in str(our_invalid.value)
        assert kind_of(translate(their_invalid.value, "x", "update")) is PermanentError

    def test_failed_operation_fails_both_clients_when_the_rollout_fails(
        self, rec: StandInServer, official: Any
    ) -> None:
        name, sid, _, _ = twin_services(rec)
        failure = {"code": 9, "message": "revision not ready"}
        rec.set_fault(operation_error=failure, count=1)
        with pytest.raises(gexc.FailedPrecondition) as their_error:
            finished(official.services.update_service(service=official.services.get_service(name=name)))  # fmt: skip
        assert rpc_status(their_error.value) == "FAILED_PRECONDITION"
        # Judged apart on purpose: the write was accepted and its rollout failed, so ours retries
        # later (cloudrun.py `_wait`) where the status alone would say dead-letter.
        ours = CloudRunTrafficRouter(rec.location, endpoint=rec.endpoint, poll_initial_s=0.05)
        rec.set_fault(operation_error=failure, count=1)
        with pytest.raises(TransientError, match="operation failed: revision not ready"):
            ours.set_traffic(name, [TrafficSplit(f"{sid}-v1", 100)])


# --- Pub/Sub ---------------------------------------------------------------------------------------


def rest_publisher(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The generated publisher over REST at `endpoint` (PUBSUB_EMULATOR_HOST would make it gRPC)."""
    from google import pubsub_v1

    with monkeypatch.context() as env:
        env.delenv("PUBSUB_EMULATOR_HOST", raising=False)
        return pubsub_v1.PublisherClient(
            transport="rest",
            client_options={"api_endpoint": endpoint},
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )


class TestPubSubEventBus:
    def test_publish_request_matches_the_official_rest_client_when_sent_to_the_stand_in(
        self, rec: StandInServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The stand-in serves no Pub/Sub: both requests are recorded, then answered NOT_FOUND.
        topic = unique_id("events")
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", rec.endpoint.removeprefix("http://"))
        message = Message(
            data=b'{"k": 1}', attributes={"event_type": "model.registered", "empty": ""}
        )
        seq = rec.record_requests()
        with pytest.raises(PermanentError, match="NOT_FOUND"):
            PubSubEventBus(rec.project, timeout_s=2).publish(topic, message)
        ours_wire = rec.requests_since(seq, topic)
        seq = rec.record_requests()
        with pytest.raises(gexc.NotFound):
            rest_publisher(rec.endpoint, monkeypatch).publish(
                topic=f"projects/{rec.project}/topics/{topic}",
                messages=[{"data": message.data, "attributes": dict(message.attributes)}],
            )
        official_wire = official_only(rec.requests_since(seq, topic))
        assert [wire(e) for e in ours_wire] == [wire(e) for e in official_wire]
        assert ours_wire[0]["body"] == official_wire[0]["body"]  # exactly: an empty value stays
        # The emulator checks no schema: Google's discovery document for Pub/Sub v1 does here.
        schemas = discovery()
        for entry in (*ours_wire, *official_wire):
            query = dict(map(tuple, entry["query"]))
            assert schemas.check_request("pubsub.projects.topics.publish", query, entry["body"], True) == []  # fmt: skip
        bad = {"messages": [{"data": "eA==", "attribute": {}}]}
        assert schemas.check_request("pubsub.projects.topics.publish", {}, bad, False) != []
        assert (
            ours_wire[0]["body"]["messages"][0]["data"] == base64.b64encode(message.data).decode()
        )

    def test_published_messages_arrive_alike_when_published_by_ours_and_the_official_clients(
        self, pubsub_project: str, pubsub_emulator: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from google.cloud import pubsub_v1

        topic, subscription = unique_id("events"), unique_id("sub")
        topic_path = f"projects/{pubsub_project}/topics/{topic}"
        sub_path = f"projects/{pubsub_project}/subscriptions/{subscription}"
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        publisher.create_topic(name=topic_path)
        subscriber.create_subscription(name=sub_path, topic=topic_path)
        message = Message(data=b"\x00\xffbinary", attributes={"a": "1", "b": ""})
        ours_id = PubSubEventBus(pubsub_project).publish(topic, message)
        rest_id = rest_publisher(f"http://{pubsub_emulator.host_port}", monkeypatch).publish(
            topic=topic_path, messages=[{"data": message.data, "attributes": dict(message.attributes)}]
        ).message_ids[0]  # fmt: skip
        grpc_id = publisher.publish(topic_path, message.data, **message.attributes).result(10)
        got: dict[str, tuple[bytes, dict[str, str]]] = {}
        for _ in range(20):
            pulled = subscriber.pull(subscription=sub_path, max_messages=10, timeout=5)
            for m in pulled.received_messages:
                got[m.message.message_id] = (m.message.data, dict(m.message.attributes))
            if subscriber.acknowledge(subscription=sub_path, ack_ids=[m.ack_id for m in pulled.received_messages]) or len(got) >= 3:  # fmt: skip
                break
        expected = (message.data, dict(message.attributes))
        assert {ours_id: expected, rest_id: expected, grpc_id: expected} == got

        with pytest.raises(PermanentError, match="NOT_FOUND"):
            PubSubEventBus(pubsub_project, timeout_s=2).publish(unique_id("gone"), message)
        with pytest.raises(gexc.NotFound) as their_error:
            rest_publisher(f"http://{pubsub_emulator.host_port}", monkeypatch).publish(
                topic=f"projects/{pubsub_project}/topics/{unique_id('gone')}",
                messages=[{"data": b"x"}],
            )
        assert kind_of(translate(their_error.value, "", "publish")) is PermanentError
        subscriber.close()


# --- Cloud Monitoring ------------------------------------------------------------------------------


# metric_service.proto: `option (google.api.http) = {get: "/v3/{name=projects/*}/timeSeries" …}`.
LIST_TIME_SERIES_RULE = {"method": "get", "uri": "/v3/{name=projects/*}/timeSeries"}


def transcoded_list_time_series(request: Any) -> tuple[str, str, list[tuple[str, str]]]:
    """(method, path, query) of a ListTimeSeriesRequest as a generated REST transport sends it.

    google-cloud-monitoring ships gRPC only and its proto-plus types carry no service descriptor,
    so the HTTP rule is the proto's (held to Google's discovery document here), transcoded and
    flattened by api-core exactly as every generated `rest_base` does."""
    from google.api_core import path_template, rest_helpers
    from google.cloud import monitoring_v3
    from google.protobuf import json_format

    _, method = discovery().method("monitoring.projects.timeSeries.list")
    assert (method["httpMethod"], method["path"]) == ("GET", "v3/{+name}/timeSeries")
    assert method["parameters"]["name"]["pattern"] == "^projects/[^/]+$"
    pb = monitoring_v3.ListTimeSeriesRequest.pb(request)
    transcoded = path_template.transcode([LIST_TIME_SERIES_RULE], pb)
    params = json_format.MessageToDict(transcoded["query_params"], use_integers_for_enums=True)
    query = rest_helpers.flatten_query_params(params, strict=True)  # type: ignore[no-untyped-call]
    query.append(ENUM_ALT)
    return "GET", transcoded["uri"], [(k, str(v)) for k, v in query]


class TestCloudMonitoringMetrics:
    def test_list_time_series_request_is_the_rest_transcoding_of_the_librarys_request(
        self, rec: StandInServer
    ) -> None:
        from google.cloud import monitoring_v3

        service_id = unique_id("svc")
        service = f"{rec.parent}/services/{service_id}"
        end = datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(minutes=5)
        seq = rec.record_requests()
        ours = CloudMonitoringMetrics(endpoint=rec.endpoint, page_size=500)
        assert ours.windows(service, [f"{service_id}-v2", f"{service_id}-v1"], start, end, 60) == []
        ours_wire = rec.requests_since(seq, "/timeSeries")
        assert len(ours_wire) == 2

        where = (
            f'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{service_id}"'
            f' AND resource.labels.location = "{rec.location}" AND resource.labels.revision_name'
            f' = one_of("{service_id}-v1", "{service_id}-v2")'
        )
        for entry, metric, group_by in zip(
            ours_wire,
            ("run.googleapis.com/request_count", "run.googleapis.com/request_latencies"),
            (["resource.labels.revision_name", "metric.labels.response_code_class"],
             ["resource.labels.revision_name"]),
            strict=True,
        ):  # fmt: skip
            request = monitoring_v3.ListTimeSeriesRequest(
                name=f"projects/{rec.project}",
                filter=f'metric.type = "{metric}" AND {where}',
                interval=monitoring_v3.TimeInterval(start_time=start, end_time=end),
                aggregation=monitoring_v3.Aggregation(
                    alignment_period={"seconds": 60},
                    per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
                    cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
                    group_by_fields=group_by,
                ),
                view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
                page_size=500,
            )
            method, path, query = transcoded_list_time_series(request)
            assert (entry["method"], entry["path"]) == (method, path)
            assert sorted(map(tuple, entry["query"])) == sorted(query)
            assert entry["body"] is None

    def test_counts_match_the_librarys_reading_of_the_same_reply_when_a_revision_served(
        self, rec: StandInServer, tmp_path: Path
    ) -> None:
        import requests
        from google.cloud import monitoring_v3

        from tests.contract.test_revision_metrics import PERIOD_S, MonitoringHarness, window_now

        harness = MonitoringHarness(rec, tmp_path, page_size=1000)
        v1, _ = harness.revisions
        harness.serve(v1, ok=3, errors=1)
        start, end = window_now()
        (window,) = harness.metrics.windows(harness.service, [v1], start, end, PERIOD_S)
        seq = rec.record_requests()
        harness.metrics.windows(harness.service, [v1], start, end, PERIOD_S)
        sent = rec.requests_since(seq, "/timeSeries")[0]

        # The same request, read by the library: FULL counts what ours counted; HEADERS (what
        # the adapter once sent by number) answers the series without a single point.
        counted: dict[str, int] = {}
        for view in ("0", "1"):
            query = [(k, v) for k, v in sent["query"] if k != "view"]
            reply = requests.get(
                rec.endpoint + sent["path"], params=[*query, ("view", view)], timeout=10
            )
            assert reply.status_code == 200, reply.text
            page = monitoring_v3.ListTimeSeriesResponse.from_json(reply.text)
            assert page.time_series, reply.text
            points = [
                (s.metric.labels["response_code_class"], p)
                for s in page.time_series
                for p in s.points
            ]
            if view == "1":
                assert points == []
            for klass, point in points:
                counted[klass] = counted.get(klass, 0) + point.value.int64_value
        assert counted == dict(window.requests) == {"2xx": 3, "5xx": 1}
