"""Local stack (stand-in): Vertex AI Model Registry v1 — upload (LRO), get, versions, aliases.

Versions of one model share its name; `versionId` counts "1", "2", … per model. The alias
"default" marks the default version (the first, unless an upload claims it); like any alias it
moves when merged elsewhere, but it cannot be removed. Adding an alias moves it off whichever
version held it. As Vertex does, names come back with the project NUMBER whichever form the
caller used, and `listVersions` names each version `model@versionId`. The display name and
description belong to the model, not the version.
"""

from __future__ import annotations

import re
from typing import Any

from interlock_dev.standin.app import StandIn
from interlock_dev.standin.errors import ApiError, invalid, not_found
from interlock_dev.standin.routing import SEG, Request, Router
from interlock_dev.standin.store import Store
from interlock_dev.standin.wire import new_etag, now_rfc3339, project_number

MODEL = "vertex.model"
VERSION = "vertex.version"
UPLOAD = "vertex.upload"
DELETE = "vertex.delete"
RESERVED = "vertex.model.reserved"  # a model id an upload still in flight will create
V1 = "type.googleapis.com/google.cloud.aiplatform.v1."

# Model.version_aliases (aiplatform.v1.json); the first character a letter, no trailing "-".
ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
# Model.labels: Vertex's own refusal, word for word (its 400 names the field, not the label;
# ours appends the label at fault so a test or user sees which).
LABEL_RULES = (
    "There can be no more than 64 labels attached to a single resource. Label keys and values "
    "can only contain lowercase letters, numbers, dashes and underscores. Label keys must start "
    "with a letter or number, must be less than 64 characters in length, and must be less that "
    "128 bytes in length when encoded in UTF-8. Label values must be less than 64 characters in "
    "length, and must be less that 128 bytes in length when encoded in UTF-8."
)
# UploadModelRequest.model_id: up to 63 of [a-z0-9_-], not starting with a digit or hyphen.
MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
_PROJECT = re.compile(r"^projects/([^/]+)/")
PARENT = rf"/v1/(?P<parent>projects/{SEG}/locations/{SEG})"
MODEL_PATH = (
    rf"/v1/(?P<model>projects/{SEG}/locations/{SEG}/models/[^/:@]+)(?:@(?P<version>[^/:]+))?"
)


def register(router: Router, app: StandIn) -> None:
    api = "aiplatform.projects.locations.models."

    def add(method: str, path: str, handler: Any, name: str) -> None:
        router.add(method, path, lambda r: handler(_canonical(r)), api + name)

    add("POST", PARENT + "/models:upload", lambda r: _upload(app, r), "upload")
    add("GET", PARENT + "/models", lambda r: _list_models(app.store, r), "list")
    add("GET", MODEL_PATH, lambda r: (200, _resolve(app.store, r)), "get")
    add("GET", MODEL_PATH + ":listVersions", lambda r: _list_versions(app.store, r), "listVersions")
    add("POST", MODEL_PATH + ":mergeVersionAliases", lambda r: _merge(app.store, r),
        "mergeVersionAliases")  # fmt: skip
    add("DELETE", MODEL_PATH, lambda r: _delete(app, r), "delete")
    app.operations.register(
        UPLOAD, _finish_upload, lambda store, payload, _: store.delete(RESERVED, payload["model"])
    )
    app.operations.register(DELETE, _finish_delete)


def canonical_name(name: str) -> str:
    """`name` with its project as Vertex answers it: by number."""
    return _PROJECT.sub(lambda m: f"projects/{project_number(m[1])}/", name)


def _canonical(req: Request) -> Request:
    for key in ("parent", "model"):
        if key in req.params:
            req.params[key] = canonical_name(req.params[key])
    if isinstance(req.body.get("parentModel"), str):
        req.body["parentModel"] = canonical_name(req.body["parentModel"])
    return req


def _upload(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    store, parent = app.store, req.params["parent"]
    model = req.body.get("model")
    if not isinstance(model, dict) or not model.get("displayName"):
        raise invalid("model.display_name is required.")
    if not (model.get("containerSpec") or {}).get("imageUri"):
        raise invalid("model.container_spec.image_uri is required.")
    _check_labels(model.get("labels") or {})
    aliases = [str(a) for a in model.get("versionAliases") or []]
    for alias in aliases:
        if alias != "default":
            _check_alias(alias)
    parent_model = req.body.get("parentModel")
    if parent_model:
        if store.get(MODEL, parent_model) is None:
            raise not_found(f"Model {parent_model}")
        name = parent_model
    else:
        model_id = str(req.body.get("modelId") or store.next_id("vertex.model_id.seq"))
        if not MODEL_ID.fullmatch(model_id) and not model_id.isdigit():
            raise invalid(
                f"model_id {model_id!r}: up to 63 characters of [a-z0-9_-], the first of which "
                f"cannot be a number or hyphen."
            )
        name = f"{parent}/models/{model_id}"
        if store.get(MODEL, name) is not None or store.get(RESERVED, name) is not None:
            raise ApiError("ALREADY_EXISTS", f"Model {name} already exists.")
        store.put(RESERVED, name, {"name": name})
    version_id = str(store.next_id(f"vertex.version_id.seq:{name}"))
    now = now_rfc3339()
    payload = {"model": name, "versionId": version_id, "spec": model, "aliases": aliases}
    metadata = {
        "@type": V1 + "UploadModelOperationMetadata",
        "genericMetadata": {"createTime": now, "updateTime": now},
    }
    fault = app.faults.for_operation(req.line)
    error = None if fault is None else fault.operation_error
    return 200, app.operations.start(store, name, UPLOAD, payload, metadata, error, numeric_id=True)


def _finish_upload(store: Store, payload: dict[str, Any]) -> dict[str, Any]:
    name, version_id, spec = payload["model"], payload["versionId"], payload["spec"]
    now = now_rfc3339()
    first = store.get(MODEL, name) is None
    if first:
        record = {"name": name, "createTime": now, "displayName": spec["displayName"]}
        if spec.get("description"):
            record["description"] = spec["description"]
        store.put(MODEL, name, record)
        store.delete(RESERVED, name)
    version = {
        "name": name,
        "versionId": version_id,
        "versionAliases": [],
        "versionDescription": spec.get("versionDescription", ""),
        "artifactUri": spec.get("artifactUri", ""),
        "containerSpec": spec.get("containerSpec", {}),
        "labels": spec.get("labels", {}),
        "createTime": store.get(MODEL, name)["createTime"],  # type: ignore[index]
        "versionCreateTime": now,
    }
    _save(store, version)
    aliases = list(payload["aliases"]) + (["default"] if first else [])
    _move_aliases(store, version, aliases, [])
    store.bump("model_versions_uploaded")
    return {"@type": V1 + "UploadModelResponse", "model": name, "modelVersionId": version_id}


def _delete(app: StandIn, req: Request) -> tuple[int, dict[str, Any]]:
    """DeleteModel: the model and every version (no endpoint deploys them here)."""
    if req.params.get("version"):
        raise invalid("DeleteModel takes a model name without a version (see DeleteModelVersion).")
    model = req.params["model"]
    if app.store.get(MODEL, model) is None:
        raise not_found(f"Model {model}")
    now = now_rfc3339()
    metadata = {
        "@type": V1 + "DeleteOperationMetadata",
        "genericMetadata": {"createTime": now, "updateTime": now},
    }
    return 200, app.operations.start(
        app.store, model, DELETE, {"model": model}, metadata, numeric_id=True
    )


def _finish_delete(store: Store, payload: dict[str, Any]) -> dict[str, Any]:
    for version in _versions(store, payload["model"]):
        store.delete(VERSION, f"{payload['model']}@{version['versionId']}")
    store.delete(MODEL, payload["model"])
    return {"@type": "type.googleapis.com/google.protobuf.Empty"}


def _versions(store: Store, model: str) -> list[dict[str, Any]]:
    record = store.get(MODEL, model) or {}
    shared = {k: record[k] for k in ("displayName", "description") if k in record}
    found = [{**v, **shared} for v in store.list(VERSION, model + "@")]
    return sorted(found, key=lambda v: int(v["versionId"]))


def _resolve(store: Store, req: Request) -> dict[str, Any]:
    model, ref = req.params["model"], req.params.get("version", "default")
    if store.get(MODEL, model) is None:
        raise not_found(f"Model {model}")
    for version in _versions(store, model):
        if ref == version["versionId"] or ref in version["versionAliases"]:
            return version
    raise not_found(f"Model {model}@{ref}")


def _list_models(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    parent = req.params["parent"]
    models = []
    for record in store.list(MODEL, parent + "/models/"):
        for version in _versions(store, record["name"]):
            if "default" in version["versionAliases"]:
                models.append(version)
    return 200, {"models": models}


def _list_versions(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    if req.params.get("version"):
        raise invalid("ListModelVersions takes a model name without a version.")
    model = req.params["model"]
    if store.get(MODEL, model) is None:
        raise not_found(f"Model {model}")
    versions = _versions(store, model)
    size = int(req.query.get("pageSize") or 100)
    start = int(req.query.get("pageToken") or 0)
    # "In the returned Model name field, version ID instead of revision tag will be included."
    page = [{**v, "name": f"{model}@{v['versionId']}"} for v in versions[start : start + size]]
    body: dict[str, Any] = {"models": page}
    if start + size < len(versions):
        body["nextPageToken"] = str(start + size)
    return 200, body


def _merge(store: Store, req: Request) -> tuple[int, dict[str, Any]]:
    if not req.params.get("version", "").isdigit():
        raise invalid(
            "The model to merge aliases into must be named with a version ID explicitly "
            "included (model@versionId)."
        )
    version = _resolve(store, req)
    requested = [str(a) for a in req.body.get("versionAliases") or []]
    if not requested:
        raise invalid("version_aliases must not be empty.")
    add: list[str] = []
    remove: list[str] = []
    for alias in requested:
        bare = alias[1:] if alias.startswith("-") else alias
        if alias == "-default":
            raise invalid("The default alias cannot be removed: move it to another version.")
        _check_alias(bare)
        (remove if alias.startswith("-") else add).append(bare)
    # Vertex: adding and removing the same alias in one request cancel out.
    both = set(add) & set(remove)
    add = [a for a in add if a not in both]
    remove = [a for a in remove if a not in both]
    _move_aliases(store, version, add, remove)
    store.bump("alias_merges")
    return 200, version


def _move_aliases(store: Store, version: dict[str, Any], add: list[str], remove: list[str]) -> None:
    for other in _versions(store, version["name"]):
        if other["versionId"] == version["versionId"]:
            continue
        kept = [a for a in other["versionAliases"] if a not in add]
        if kept != other["versionAliases"]:
            other["versionAliases"] = kept
            _save(store, other)
    aliases = [a for a in version["versionAliases"] if a not in remove]
    aliases += [a for a in add if a not in aliases]
    version["versionAliases"] = aliases
    _save(store, version)


def _save(store: Store, version: dict[str, Any]) -> None:
    now = now_rfc3339()
    version["versionUpdateTime"] = now
    version["updateTime"] = now
    version["etag"] = new_etag()
    own = {k: v for k, v in version.items() if k not in ("displayName", "description")}
    store.put(VERSION, f"{version['name']}@{version['versionId']}", own)


def _check_alias(alias: str) -> None:
    if not ALIAS.fullmatch(alias):
        raise invalid(
            f"Invalid version alias {alias!r}: it must match [a-z][a-zA-Z0-9-]{{0,126}}[a-z0-9]."
        )


def _check_labels(labels: Any) -> None:
    """Google's label rules (lowercase letters — international ones too —, digits, '_', '-';
    at most 63 characters and 128 UTF-8 bytes; keys start with a letter or digit; 64 labels)."""
    if not isinstance(labels, dict):
        raise invalid("Invalid value at 'model.labels': expected a map of strings.")
    fault = None
    if len(labels) > 64:
        fault = f"{len(labels)} labels"
    for key, value in labels.items():
        if fault is not None:
            break
        if not _label_text(key) or not key or not (key[0].isalpha() or key[0].isdigit()):
            fault = f"Label key {key!r} is invalid"
        elif not isinstance(value, str) or not _label_text(value):
            fault = f"Label value {value!r} of key {key!r} is invalid"
    if fault is not None:
        raise invalid(
            f"List of found errors:\t1.Field: model.labels; Message: {LABEL_RULES}\t({fault}.)"
        )


def _label_text(text: str) -> bool:
    return (
        len(text) <= 63
        and len(text.encode()) <= 128
        and all(c in "_-" or c.isdigit() or (c.isalpha() and c == c.lower()) for c in text)
    )
