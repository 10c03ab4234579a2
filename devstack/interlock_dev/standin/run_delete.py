"""Local stack (stand-in): Cloud Run Admin v2 deletions — a service, a revision (operations).

Cloud Run refuses to delete a revision its traffic block names or that serves; anything else
goes, a failed revision included (what docs/operations.md tells an operator to do with one).
Deleting a service deletes its revisions. Both answer with an operation, as Cloud Run does.
"""

from __future__ import annotations

from typing import Any

from interlock_dev.standin.app import StandIn
from interlock_dev.standin.cloudrun import (
    REVISION,
    REVISION_TYPE,
    SERVICE,
    SERVICE_PATH,
    SERVICE_TYPE,
    TEMPLATE,
    done_operation,
    get_revision,
    load,
    name_of,
    resolved_statuses,
)
from interlock_dev.standin.errors import ApiError
from interlock_dev.standin.routing import Request, Router
from interlock_dev.standin.store import Store

DELETE_REVISION = "run.revision.delete"
DELETE_SERVICE = "run.service.delete"


def register(router: Router, app: StandIn) -> None:
    api = "run.projects.locations.services."
    router.add(
        "DELETE",
        SERVICE_PATH + r"/revisions/(?P<revision>[^/:]+)",
        lambda r: _delete_revision(app, r),
        api + "revisions.delete",
    )
    router.add("DELETE", SERVICE_PATH, lambda r: _delete_service(app, r), api + "delete")
    app.operations.register(DELETE_REVISION, _finish_revision)
    app.operations.register(DELETE_SERVICE, _finish_service)


def _delete_revision(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    revision = get_revision(app, req)
    service = load(app.store, name_of(req))
    short = req.params["revision"]
    named = [t for t in service.get("traffic") or [] if t.get("revision") == short]
    served = [
        s for s in resolved_statuses(service) if s.get("revision") == short and s.get("percent")
    ]
    if named or served:
        raise ApiError(
            "FAILED_PRECONDITION",
            f"Revision '{short}' is referenced by the traffic of service "
            f"'{service['name'].rsplit('/', 1)[-1]}' and cannot be deleted.",
        )
    if req.query.get("validateOnly") == "true":
        return 200, done_operation(req.params["parent"], REVISION_TYPE, revision)
    return 200, app.operations.start(
        app.store,
        req.params["parent"],
        DELETE_REVISION,
        {"revision": revision["name"]},
        {"@type": REVISION_TYPE, **revision},
    )


def _finish_revision(store: Store, payload: dict[str, Any]) -> dict[str, Any]:
    revision = store.get(REVISION, payload["revision"]) or {"name": payload["revision"]}
    store.delete(REVISION, payload["revision"])
    store.delete(TEMPLATE, payload["revision"])
    return {"@type": REVISION_TYPE, **revision}


def _delete_service(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    service = load(app.store, name_of(req))
    if req.query.get("validateOnly") == "true":
        return 200, done_operation(req.params["parent"], SERVICE_TYPE, service)
    return 200, app.operations.start(
        app.store,
        req.params["parent"],
        DELETE_SERVICE,
        {"service": service["name"]},
        {"@type": SERVICE_TYPE, **service},
    )


def _finish_service(store: Store, payload: dict[str, Any]) -> dict[str, Any]:
    name = payload["service"]
    service = store.get(SERVICE, name) or {"name": name}
    for revision in store.list(REVISION, name + "/revisions/"):
        store.delete(REVISION, revision["name"])
        store.delete(TEMPLATE, revision["name"])
    store.delete(SERVICE, name)
    return {"@type": SERVICE_TYPE, **service}
