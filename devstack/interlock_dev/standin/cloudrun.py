"""Local stack (stand-in): Cloud Run Admin v2 — services, revisions, traffic, update operations.

Like the real service, a write stores the new spec at once (generation+1, `reconciling`) and an
operation reconciles it later: the revision is created and `trafficStatuses` follow the spec only
when the operation finishes. A failed operation leaves the served traffic as it was, and a
revision that failed to become ready stays (Ready=False) under its name, as on Cloud Run. The
etag changes on writes only (Google's encodes `updateTime`). The rules: run_rules.py.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from interlock_dev.standin.app import StandIn
from interlock_dev.standin.errors import ApiError, invalid, not_found
from interlock_dev.standin.routing import SEG, Request, Router
from interlock_dev.standin.run_rules import (
    DNS_NAME,
    LATEST,
    check_traffic,
    masked,
    new_revision,
    probe_failure,
    spec_of,
    traffic_failure,
    with_defaults,
)
from interlock_dev.standin.store import Store
from interlock_dev.standin.wire import new_etag, now_rfc3339, prune

SERVICE = "run.service"
REVISION = "run.revision"
TEMPLATE = "run.revision.template"
PENDING = "run.revision.pending"
RECONCILE = "run.reconcile"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
REVISION_TYPE = "type.googleapis.com/google.cloud.run.v2.Revision"
PARENT = rf"/v2/(?P<parent>projects/{SEG}/locations/{SEG})"
SERVICE_PATH = rf"{PARENT}/services/(?P<service>{SEG})"
RUN_PREFIX = "/run/"


def service_uri(base_url: str, service_id: str, tag: str | None = None) -> str:
    """A service's (or a tag's) `uri`: the stand-in itself, which answers predictions there."""
    return f"{base_url}{RUN_PREFIX}{tag + '---' if tag else ''}{service_id}"


def register(router: Router, app: StandIn) -> None:
    api = "run.projects.locations.services."
    revision_path = SERVICE_PATH + r"/revisions/(?P<revision>[^/:]+)"
    router.add("GET", PARENT + "/services", lambda r: _list_services(app.store, r), api + "list")
    router.add("POST", PARENT + "/services", lambda r: _create(app, r), api + "create")
    router.add("GET", SERVICE_PATH, lambda r: (200, load(app.store, name_of(r))), api + "get")
    router.add("PATCH", SERVICE_PATH, lambda r: _update(app, r), api + "patch")
    router.add(
        "GET",
        SERVICE_PATH + "/revisions",
        lambda r: _list_revisions(app.store, r),
        api + "revisions.list",
    )
    router.add("GET", revision_path, lambda r: (200, get_revision(app, r)), api + "revisions.get")
    app.operations.register(RECONCILE, lambda s, p: _finish(s, p, app.base_url), _fail)


def name_of(req: Request) -> str:
    return f"{req.params['parent']}/services/{req.params['service']}"


def load(store: Store, name: str) -> dict[str, Any]:
    service = store.get(SERVICE, name)
    if service is None:
        raise not_found(f"Resource '{name.rsplit('/', 1)[-1]}' of kind 'SERVICE'")
    return service


def _list_services(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"services": store.list(SERVICE, req.params["parent"] + "/services/")}


def _list_revisions(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    name = name_of(req)
    load(store, name)
    return 200, {"revisions": store.list(REVISION, name + "/revisions/")}


def get_revision(app: StandIn, req: Request) -> dict[str, Any]:
    name = f"{name_of(req)}/revisions/{req.params['revision']}"
    revision = app.store.get(REVISION, name)
    if revision is None:
        raise not_found(f"Resource '{req.params['revision']}' of kind 'REVISION'")
    return revision


def done_operation(parent: str, type_url: str, response: dict[str, Any]) -> dict[str, Any]:
    """What a validate-only request answers: a finished operation, nothing persisted."""
    return {
        "name": f"{parent}/operations/{uuid.uuid4()}",
        "metadata": {"@type": type_url, **response},
        "done": True,
        "response": {"@type": type_url, **response},
    }


def _create(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    service_id = req.query.get("serviceId", "")
    if not DNS_NAME.fullmatch(service_id) or len(service_id) > 49:
        raise invalid(f"service_id {service_id!r} must be a DNS label of at most 49 characters.")
    name = f"{req.params['parent']}/services/{service_id}"
    if app.store.get(SERVICE, name) is not None:
        raise ApiError("ALREADY_EXISTS", f"Resource '{service_id}' already exists.")
    now = now_rfc3339()
    service: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid4()),
        "generation": "0",
        "createTime": now,
        "creator": "standin@interlock_dev",
        "ingress": "INGRESS_TRAFFIC_ALL",
        "launchStage": "GA",
        "template": {},
        "traffic": [],
        "trafficStatuses": [],
        "uri": service_uri(app.base_url, service_id),
        "urls": [service_uri(app.base_url, service_id)],
    }
    return _write(app, req, service, masked({}, spec_of(req.body), []), creating=True)


def _update(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    name = name_of(req)
    current = app.store.get(SERVICE, name)
    if current is None:
        if req.query.get("allowMissing") == "true":
            req.query["serviceId"] = req.params["service"]
            return _create(app, req)
        load(app.store, name)
    assert current is not None
    sent_etag = req.body.get("etag")
    if sent_etag and sent_etag != current["etag"]:
        # AIP-154 says ABORTED (409); what Cloud Run answers is unverified, hence the switch.
        raise ApiError(
            app.faults.stale_etag,
            f"Etag {sent_etag!r} does not match the service's current etag.",
        )
    mask = [p for p in req.query.get("updateMask", "").split(",") if p]
    spec = masked(spec_of(current), spec_of(req.body), mask)
    return _write(app, req, current, spec, creating=False)


def _write(
    app: StandIn, req: Request, service: dict[str, Any], spec: dict[str, Any], creating: bool
) -> tuple[int, dict[str, Any]]:
    store, name = app.store, service["name"]
    short = name.rsplit("/", 1)[-1]
    template = with_defaults(prune(spec.get("template") or {}), name.split("/")[1])
    containers = template.get("containers") or []
    if not containers or not containers[0].get("image"):
        raise invalid("template.containers[0].image is required.")
    wanted = template.get("revision")
    existing = None
    if wanted:
        # A revision an operation still in flight will create counts as existing.
        existing = store.get(TEMPLATE, f"{name}/revisions/{wanted}") or store.get(
            PENDING, f"{name}/revisions/{wanted}"
        )
    force = req.query.get("forceNewRevision") == "true"
    created = new_revision(existing, service, template, creating, force)
    traffic = [prune(t) for t in spec.get("traffic") or []] or [{"type": LATEST, "percent": 100}]
    check_traffic(short, traffic)
    now = now_rfc3339()
    updated = copy.deepcopy(service)
    for key in spec:
        if key not in ("template", "traffic"):
            updated[key] = spec[key]
    for key in set(updated) & {k for k in _SPEC_ONLY if k not in spec}:
        del updated[key]  # cleared by a full replacement
    generation = int(service["generation"]) + 1
    updated.update(
        generation=str(generation),
        template=template,
        traffic=traffic,
        updateTime=now,
        reconciling=True,
        etag=new_etag(),
        terminalCondition={
            "type": "Ready",
            "state": "CONDITION_RECONCILING",
            "lastTransitionTime": now,
        },
    )
    if req.query.get("validateOnly") == "true":
        return 200, done_operation(req.params["parent"], SERVICE_TYPE, updated)
    fault = app.faults.for_operation(req.line)
    error = None if fault is None else fault.operation_error
    fails = bool(fault is not None and fault.revision_fails)
    why = probe_failure(template) if created else None
    if error is None and why is not None:
        error, fails = {"code": 9, "message": f"Revision '{created}' is not ready and cannot "
                        f"serve traffic. {why}"}, True  # fmt: skip
    if error is None:
        error = traffic_failure(traffic, _readiness(store, name), created)
    if created is not None:
        store.put(PENDING, f"{name}/revisions/{created}", {**template, "revision": created})
    store.put(SERVICE, name, updated)
    store.bump("service_writes")
    payload = {
        "service": name,
        "generation": generation,
        "newRevision": created,
        "revisionFails": fails,
    }
    metadata = {"@type": SERVICE_TYPE, **updated}
    return 200, app.operations.start(
        store, req.params["parent"], RECONCILE, payload, metadata, error
    )


# Settable fields with no server default: a PATCH without a mask that omits one clears it.
_SPEC_ONLY = ("description", "labels", "annotations", "client", "clientVersion",
              "binaryAuthorization", "scaling", "invokerIamDisabled", "defaultUriDisabled",
              "customAudiences")  # fmt: skip


def _readiness(store: Store, service: str) -> dict[str, bool]:
    return {
        r["name"].rsplit("/", 1)[-1]: _ready(r)
        for r in store.list(REVISION, service + "/revisions/")
    }


def _ready(revision: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("state") == "CONDITION_SUCCEEDED"
        for c in revision.get("conditions") or []
    )


def resolved_statuses(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The traffic statuses with LATEST spelled out as the revision it reaches (Google omits it)."""
    latest = str(service.get("latestReadyRevision", "")).rsplit("/", 1)[-1]
    return [
        {**s, "revision": s.get("revision") or latest} for s in service.get("trafficStatuses") or []
    ]


def _finish(store: Store, payload: dict[str, Any], base_url: str) -> dict[str, Any]:
    service = store.get(SERVICE, payload["service"])
    assert service is not None
    name, short = service["name"], service["name"].rsplit("/", 1)[-1]
    now = now_rfc3339()
    before = resolved_statuses(service)  # LATEST as it resolved until now
    if payload["newRevision"]:
        _create_revision(store, service, payload["newRevision"], now, failure=None)
    if payload["generation"] == int(service["generation"]):
        statuses = []
        for target in service["traffic"]:
            status = dict(target)  # a LATEST status names no revision on v2 (finding 2)
            if target.get("tag"):
                status["uri"] = service_uri(base_url, short, target["tag"])
            statuses.append(status)
        service["trafficStatuses"] = statuses
        # Count what is served changing, not its spelling (LATEST pinned to the same revision).
        if _served(resolved_statuses(service)) != _served(before):
            store.bump("traffic_updates")
        service.update(
            reconciling=False,
            observedGeneration=service["generation"],
            terminalCondition={
                "type": "Ready",
                "state": "CONDITION_SUCCEEDED",
                "lastTransitionTime": now,
            },
            conditions=[
                {"type": t, "state": "CONDITION_SUCCEEDED", "lastTransitionTime": now}
                for t in ("RoutesReady", "ConfigurationsReady")
            ],
        )
    store.put(SERVICE, name, service)
    return {"@type": SERVICE_TYPE, **service}


def _fail(store: Store, payload: dict[str, Any], error: dict[str, Any]) -> None:
    service = store.get(SERVICE, payload["service"])
    assert service is not None
    message = str(error.get("message", ""))
    created = payload["newRevision"]
    if created and payload.get("revisionFails"):
        _create_revision(store, service, created, now_rfc3339(), failure=message)
    elif created:
        store.delete(PENDING, f"{service['name']}/revisions/{created}")
    if payload["generation"] == int(service["generation"]):
        # traffic_statuses, observed_generation and latest_ready_revision keep "the state of the
        # last serving revision" (Service.reconciling).
        service.update(
            reconciling=False,
            terminalCondition={
                "type": "Ready",
                "state": "CONDITION_FAILED",
                "message": message,
                "lastTransitionTime": now_rfc3339(),
            },
        )
    store.put(SERVICE, service["name"], service)


def _create_revision(
    store: Store, service: dict[str, Any], short: str, now: str, failure: str | None
) -> None:
    name = f"{service['name']}/revisions/{short}"
    template = store.get(PENDING, name) or {**service["template"], "revision": short}
    ready = {"type": "Ready", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": now}
    if failure is not None:
        ready = {**ready, "state": "CONDITION_FAILED", "revisionReason": "HEALTH_CHECK_CONTAINER_ERROR",
                 "message": failure}  # fmt: skip
    revision = {
        "name": name,
        "uid": str(uuid.uuid4()),
        "generation": "1",
        "labels": template.get("labels", {}),
        "annotations": template.get("annotations", {}),
        "createTime": now,
        "updateTime": now,
        "launchStage": service.get("launchStage", "GA"),
        "service": service["name"].rsplit("/", 1)[-1],
        "containers": template.get("containers", []),
        "timeout": template.get("timeout"),
        "serviceAccount": template.get("serviceAccount"),
        "scaling": template.get("scaling"),
        "maxInstanceRequestConcurrency": template.get("maxInstanceRequestConcurrency"),
        "conditions": [ready],
        "observedGeneration": "1",
        "reconciling": False,
        "etag": new_etag(),
    }
    store.put(REVISION, name, {k: v for k, v in revision.items() if v is not None})
    # Kept apart from the public resource, to judge a reused revision name.
    store.put(TEMPLATE, name, copy.deepcopy(template))
    store.delete(PENDING, name)
    store.bump("revisions_created")
    service["latestCreatedRevision"] = name
    if failure is None:
        service["latestReadyRevision"] = name


def _served(statuses: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    return {
        (t.get("revision", ""), int(t.get("percent") or 0), t.get("tag", ""))
        for t in statuses
        if t.get("percent")
    }
