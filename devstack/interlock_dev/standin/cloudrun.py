"""Local stack (stand-in): Cloud Run Admin v2 — services, revisions, traffic, update operations.

Like the real service, a write stores the new spec at once (generation+1, `reconciling`) and an
operation reconciles it later: the revision is created and `trafficStatuses` follow the spec only
when the operation finishes. A failed operation leaves the served traffic as it was.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from interlock_dev.standin.app import StandIn
from interlock_dev.standin.errors import ApiError, invalid, not_found
from interlock_dev.standin.routing import SEG, Request, Router
from interlock_dev.standin.store import Store
from interlock_dev.standin.wire import enums_to_names, new_etag, now_rfc3339, prune

SERVICE = "run.service"
REVISION = "run.revision"
TEMPLATE = "run.revision.template"
PENDING = "run.revision.pending"
RECONCILE = "run.reconcile"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
# What a client may set; everything else on a Service is output only and ignored on input.
SPEC_FIELDS = (
    "description", "labels", "annotations", "client", "clientVersion", "ingress", "launchStage",
    "binaryAuthorization", "template", "traffic", "scaling", "invokerIamDisabled",
    "defaultUriDisabled", "customAudiences",
)  # fmt: skip
DNS_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
PARENT = rf"/v2/(?P<parent>projects/{SEG}/locations/{SEG})"
SERVICE_PATH = rf"{PARENT}/services/(?P<service>{SEG})"
RUN_PREFIX = "/run/"


def service_uri(base_url: str, service_id: str, tag: str | None = None) -> str:
    """A service's (or a tag's) `uri`: the stand-in itself, which answers predictions there."""
    return f"{base_url}{RUN_PREFIX}{tag + '---' if tag else ''}{service_id}"


def register(router: Router, app: StandIn) -> None:
    router.add("GET", PARENT + "/services", lambda r: _list_services(app.store, r))
    router.add("POST", PARENT + "/services", lambda r: _create(app, r))
    router.add("GET", SERVICE_PATH, lambda r: (200, _load(app.store, _name(r))))
    router.add("PATCH", SERVICE_PATH, lambda r: _update(app, r))
    router.add("GET", SERVICE_PATH + "/revisions", lambda r: _list_revisions(app.store, r))
    router.add(
        "GET", SERVICE_PATH + r"/revisions/(?P<revision>[^/:]+)", lambda r: _revision(app, r)
    )
    app.operations.register(RECONCILE, lambda s, p: _finish(s, p, app.base_url), _fail)


def _name(req: Request) -> str:
    return f"{req.params['parent']}/services/{req.params['service']}"


def _load(store: Store, name: str) -> dict[str, Any]:
    service = store.get(SERVICE, name)
    if service is None:
        raise not_found(f"Resource '{name.rsplit('/', 1)[-1]}' of kind 'SERVICE'")
    return service


def _list_services(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"services": store.list(SERVICE, req.params["parent"] + "/services/")}


def _list_revisions(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    name = _name(req)
    _load(store, name)
    return 200, {"revisions": store.list(REVISION, name + "/revisions/")}


def _revision(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    name = f"{_name(req)}/revisions/{req.params['revision']}"
    revision = app.store.get(REVISION, name)
    if revision is None:
        raise not_found(f"Resource '{req.params['revision']}' of kind 'REVISION'")
    return 200, revision


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
    return _write(app, req, service, _spec(req.body), creating=True)


def _update(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    name = _name(req)
    current = app.store.get(SERVICE, name)
    if current is None:
        if req.query.get("allowMissing") == "true":
            req.query["serviceId"] = req.params["service"]
            return _create(app, req)
        _load(app.store, name)
    assert current is not None
    sent_etag = req.body.get("etag")
    if sent_etag and sent_etag != current["etag"]:
        # AIP-154: a stale etag is ABORTED (409); the caller re-reads and retries.
        raise ApiError("ABORTED", f"Etag {sent_etag!r} does not match the service's current etag.")
    spec = _spec(req.body)
    mask = [p for p in req.query.get("updateMask", "").split(",") if p]
    if mask:
        fields = {p.split(".")[0] for p in mask}
        spec = {k: v for k, v in _spec(current).items() if k not in fields} | {
            k: v for k, v in spec.items() if k in fields
        }
    return _write(app, req, current, spec, creating=False)


def _spec(body: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(body[k]) for k in SPEC_FIELDS if k in body}


def _write(
    app: StandIn, req: Request, service: dict[str, Any], spec: dict[str, Any], creating: bool
) -> tuple[int, dict[str, Any]]:
    store, name = app.store, service["name"]
    template = _with_defaults(prune(spec.get("template") or {}))
    containers = template.get("containers") or []
    if not containers or not containers[0].get("image"):
        raise invalid("template.containers[0].image is required.")
    new_revision = _new_revision(store, service, template, creating)
    if new_revision is not None:
        template["revision"] = new_revision
        store.put(PENDING, f"{name}/revisions/{new_revision}", template)
    traffic = [prune(t) for t in spec.get("traffic") or []] or [{"type": LATEST, "percent": 100}]
    _check_traffic(store, name, traffic, new_revision)
    now = now_rfc3339()
    service.update({k: v for k, v in spec.items() if k not in ("template", "traffic")})
    generation = int(service["generation"]) + 1
    service.update(
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
    store.put(SERVICE, name, service)
    store.bump("service_writes")
    payload = {"service": name, "generation": generation, "newRevision": new_revision}
    metadata = {"@type": SERVICE_TYPE, **service}
    error = app.faults.for_operation(req.line)
    return 200, app.operations.start(
        store, req.params["parent"], RECONCILE, payload, metadata, error
    )


def _new_revision(
    store: Store, service: dict[str, Any], template: dict[str, Any], creating: bool
) -> str | None:
    """The revision this write creates, or None when the template is unchanged."""
    name, short = service["name"], service["name"].rsplit("/", 1)[-1]
    wanted = template.get("revision", "")
    if wanted:
        if not wanted.startswith(short + "-") or not DNS_NAME.fullmatch(wanted):
            raise invalid(
                f"Revision name {wanted!r} must be a DNS label prefixed with the service name "
                f"'{short}-'."
            )
        # A revision an operation still in flight will create counts as existing.
        existing = store.get(TEMPLATE, f"{name}/revisions/{wanted}") or store.get(
            PENDING, f"{name}/revisions/{wanted}"
        )
        if existing is not None:
            if _body(existing) != _body(template):
                raise ApiError(
                    "ALREADY_EXISTS",
                    f"Revision named '{wanted}' with different configuration already exists.",
                )
            return None
    elif not creating and _body(service["template"]) == _body(template):
        return None
    if wanted:
        return str(wanted)
    return f"{short}-{int(service['generation']) + 1:05d}-{uuid.uuid4().hex[:3]}"


def _body(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in template.items() if k != "revision"}


def _with_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """The defaults Cloud Run fills in, so a read-modify-write round trip compares equal."""
    template = enums_to_names(template)
    template.setdefault("timeout", "300s")
    template.setdefault("maxInstanceRequestConcurrency", 80)
    for container in template.get("containers") or []:
        container.setdefault("resources", {}).setdefault(
            "limits", {"cpu": "1000m", "memory": "512Mi"}
        )
        ports = container.setdefault("ports", [{"containerPort": 8080}])
        for port in ports:
            port.setdefault("name", "http1")
            port.setdefault("containerPort", 8080)
    return dict(template)


def _check_traffic(
    store: Store, name: str, traffic: list[dict[str, Any]], new_revision: str | None
) -> None:
    total, tags = 0, set()
    for i, target in enumerate(traffic):
        kind = target.get("type") or BY_REVISION
        percent = int(target.get("percent", 0))
        if not 0 <= percent <= 100:
            raise invalid(f"spec.traffic[{i}].percent must be between 0 and 100.")
        total += percent
        if kind == LATEST:
            if target.get("revision"):
                raise invalid(f"spec.traffic[{i}]: a LATEST target must not name a revision.")
        elif kind == BY_REVISION:
            revision = target.get("revision", "")
            if not revision:
                raise invalid(f"spec.traffic[{i}].revision is required for a REVISION target.")
            known = store.get(REVISION, f"{name}/revisions/{revision}") is not None
            if not known and revision != new_revision:
                raise invalid(f"spec.traffic[{i}]: Revision '{revision}' does not exist.")
        else:
            raise invalid(f"spec.traffic[{i}].type {kind!r} is not a valid allocation type.")
        tag = target.get("tag")
        if tag:
            if not DNS_NAME.fullmatch(tag):
                raise invalid(f"spec.traffic[{i}].tag {tag!r} must be a lowercase DNS label.")
            if tag in tags:
                raise invalid(f"spec.traffic: tag '{tag}' is used more than once.")
            tags.add(tag)
    if total != 100:
        raise invalid(f"spec.traffic: percents must sum to 100, got {total}.")


def _finish(store: Store, payload: dict[str, Any], base_url: str) -> dict[str, Any]:
    service = store.get(SERVICE, payload["service"])
    assert service is not None
    name, short = service["name"], service["name"].rsplit("/", 1)[-1]
    now = now_rfc3339()
    if payload["newRevision"]:
        _create_revision(store, service, payload["newRevision"], now)
    elif not service.get("latestReadyRevision") and service["template"].get("revision"):
        service["latestReadyRevision"] = f"{name}/revisions/{service['template']['revision']}"
    if payload["generation"] == int(service["generation"]):
        latest = service.get("latestReadyRevision", "").rsplit("/", 1)[-1]
        statuses = []
        for target in service["traffic"]:
            status = dict(target)
            status["revision"] = target.get("revision") or latest
            if target.get("tag"):
                status["uri"] = service_uri(base_url, short, target["tag"])
            statuses.append(status)
        # Count what is served changing, not its spelling (LATEST pinned to the same revision).
        if _served(statuses) != _served(service.get("trafficStatuses") or []):
            store.bump("traffic_updates")
        service.update(
            trafficStatuses=statuses,
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
    service["etag"] = new_etag()
    store.put(SERVICE, name, service)
    return {"@type": SERVICE_TYPE, **service}


def _fail(store: Store, payload: dict[str, Any], error: dict[str, Any]) -> None:
    service = store.get(SERVICE, payload["service"])
    assert service is not None
    if payload["newRevision"]:
        store.delete(PENDING, f"{service['name']}/revisions/{payload['newRevision']}")
    if payload["generation"] == int(service["generation"]):
        service.update(
            reconciling=False,
            observedGeneration=service["generation"],
            terminalCondition={
                "type": "Ready",
                "state": "CONDITION_FAILED",
                "message": str(error.get("message", "")),
                "lastTransitionTime": now_rfc3339(),
            },
        )
    service["etag"] = new_etag()
    store.put(SERVICE, service["name"], service)


def _create_revision(store: Store, service: dict[str, Any], short: str, now: str) -> None:
    name = f"{service['name']}/revisions/{short}"
    template = service["template"]
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
        "maxInstanceRequestConcurrency": template.get("maxInstanceRequestConcurrency"),
        "conditions": [
            {"type": "Ready", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": now},
        ],
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
    service["latestReadyRevision"] = name


def _served(statuses: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    return {
        (t.get("revision", ""), int(t.get("percent") or 0), t.get("tag", ""))
        for t in statuses
        if t.get("percent")
    }
