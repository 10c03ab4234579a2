"""Conformance: the stand-in's assumptions about Cloud Run, checked against Cloud Run itself.

Each test settles one open point of ../shared/reference/google-api-fidelity.md and fails when
Google behaves otherwise than the stand-in (devstack/interlock_dev/standin/) does — then the
stand-in is what must change. Each prints what it saw (`make conformance` shows it).
"""

from __future__ import annotations

import pytest

from interlock.core.errors import PermanentError
from interlock.ports import RevisionSpec
from tests.contract.test_traffic_router import IMAGE

from .conftest import Google
from .live import OPERATION_TIMEOUT_S, create_service, router, run_clients

BY_REVISION = 2  # TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def hello(google: Google, label: str, revision: bool = True) -> tuple[str, str]:
    """A throw-away service on Google's hello image; (name, first revision's short name)."""
    run_v2 = run_clients(google)[0]
    service_id = f"ilc-{label}-{google.suffix}"
    template = run_v2.RevisionTemplate(
        revision=f"{service_id}-v1" if revision else "",
        containers=[run_v2.Container(image=IMAGE)],
    )
    name = create_service(google, service_id, template)
    latest = run_clients(google)[1].get_service(name=name).latest_ready_revision
    return name, latest.rsplit("/", 1)[-1]


def test_latest_traffic_status_names_no_revision(google: Google) -> None:  # finding 2
    name, _ = hello(google, "latest", revision=False)
    status = run_clients(google)[1].get_service(name=name).traffic_statuses[0]
    print(f"conformance: LATEST traffic status revision={status.revision!r}")
    assert status.revision == "", "Cloud Run names the revision: the stand-in may say so too"


@pytest.mark.parametrize("extra", [0, 1])
def test_tag_and_service_id_are_limited_to_46_characters(google: Google, extra: int) -> None:
    from google.api_core import exceptions as gexc

    name, first = hello(google, f"tag{extra}")  # finding 3
    service_id = name.rsplit("/", 1)[-1]
    tag = "t" * (46 - len(service_id) + extra)
    run_v2, services, _ = run_clients(google)
    service = services.get_service(name=name)
    service.traffic = [
        run_v2.TrafficTarget(type_=BY_REVISION, revision=first, percent=100, tag=tag)
    ]
    if extra == 0:
        services.update_service(service=service).result(timeout=OPERATION_TIMEOUT_S)
        return
    with pytest.raises(gexc.BadRequest) as info:
        services.update_service(service=service).result(timeout=OPERATION_TIMEOUT_S)
    print(f"conformance: tag + service = 47 characters: {info.value.message}")
    assert "cannot exceed 46 characters" in info.value.message


def test_stale_etag_reply(google: Google) -> None:  # finding 7
    from google.api_core import exceptions as gexc

    from interlock.adapters.google_errors import rpc_status

    name, _ = hello(google, "etag")
    services = run_clients(google)[1]
    stale = services.get_service(name=name)
    fresh = services.get_service(name=name)
    fresh.labels["conformance"] = "first"
    services.update_service(service=fresh).result(timeout=OPERATION_TIMEOUT_S)
    stale.labels["conformance"] = "second"
    try:
        services.update_service(service=stale).result(timeout=OPERATION_TIMEOUT_S)
    except gexc.GoogleAPICallError as e:
        reply = rpc_status(e)
        print(f"conformance: stale etag answered {e.code} {reply}: {e.message}")
        assert reply in ("ABORTED", "FAILED_PRECONDITION")  # both switch positions of the stand-in
        return
    pytest.fail("Cloud Run accepted a stale etag: the adapter's race protection does nothing")


def test_traffic_to_an_unknown_revision_fails_the_operation(google: Google) -> None:
    from google.api_core import exceptions as gexc  # finding 4

    name, _ = hello(google, "unknown")
    run_v2, services, _ = run_clients(google)
    service = services.get_service(name=name)
    service.traffic = [run_v2.TrafficTarget(type_=BY_REVISION, revision="nope-v9", percent=100)]
    try:
        operation = services.update_service(service=service)
    except gexc.GoogleAPICallError as e:
        pytest.fail(f"refused synchronously ({e.code}: {e.message}); the stand-in fails the LRO")
    with pytest.raises(gexc.GoogleAPICallError) as info:
        operation.result(timeout=OPERATION_TIMEOUT_S)
    print(f"conformance: unknown revision: operation failed: {info.value.message}")


def test_failed_revision_stays_not_ready_and_the_adapter_says_what_to_do(
    google: Google,
) -> None:  # finding 1
    name, first = hello(google, "failed")
    run_v2, services, revisions = run_clients(google)
    broken = RevisionSpec(name=f"{name.rsplit('/', 1)[-1]}-v2", image=IMAGE, env={})
    service = services.get_service(name=name)
    service.template.revision = broken.name
    # The default TCP startup probe moved off the serving port: it can never connect.
    probe = service.template.containers[0].startup_probe
    probe.tcp_socket.port = 9
    probe.period_seconds = probe.timeout_seconds = probe.failure_threshold = 1
    service.traffic = [run_v2.TrafficTarget(type_=BY_REVISION, revision=first, percent=100)]
    with pytest.raises(Exception) as failure:
        services.update_service(service=service).result(timeout=OPERATION_TIMEOUT_S)
    print(f"conformance: failed rollout: {failure.value}")
    revision = revisions.get_revision(name=f"{name}/revisions/{broken.name}")
    ready = next(c for c in revision.conditions if c.type_ == "Ready")
    print(f"conformance: failed revision kept, Ready state={ready.state.name}: {ready.message}")
    assert ready.state.name == "CONDITION_FAILED"
    assert services.get_service(name=name).latest_created_revision.endswith(broken.name)
    with pytest.raises(PermanentError) as info:
        router(google).ensure_revision(name, broken)
    assert "gcloud run revisions delete" in info.value.reason
