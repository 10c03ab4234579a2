"""Local stack (stand-in): bodies checked against Google's discovery documents (`--schema-check`).

The documents are Google's own, as shipped in google-api-python-client's discovery cache (a dev
dependency), read from there when the stand-in starts — never copied into this repository. With
the check on, every request body is held to its method's request schema and every reply to its
response schema: an unknown field, a value outside an enum or a wrong type is a violation. A
request then gets the 400 Google would give; a reply becomes a 500 naming the violation. Both are
kept for `GET /_state`, so a test that swallowed the error still fails (tests/fixtures/standin.py).
Packed `Any` messages (an operation's `metadata` and `response`) are checked by their `@type`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

DOCUMENTS = {
    "run": "run.v2.json",
    "aiplatform": "aiplatform.v1.json",
    "monitoring": "monitoring.v3.json",
    # Not served here: the Pub/Sub emulator checks no schema, so the contract tests hold the
    # publish bodies (ours and the official client's) to this one themselves.
    "pubsub": "pubsub.v1.json",
}
_DURATION = re.compile(r"-?[0-9]+(\.[0-9]{1,9})?s")
_INT64 = re.compile(r"-?[0-9]+")
# Sent by the GAPIC REST transport, not a documented parameter.
_TRANSPORT_PARAMS = {"$alt"}


def document_path(api: str) -> Path:
    import googleapiclient.discovery_cache

    return Path(googleapiclient.discovery_cache.__file__).parent / "documents" / DOCUMENTS[api]


class Discovery:
    """Google's discovery documents, loaded once, and the checks against them."""

    def __init__(self) -> None:
        self.docs = {api: json.loads(document_path(api).read_text()) for api in DOCUMENTS}

    def method(self, method_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(document, method) for an id like `run.projects.locations.services.patch`."""
        api, *path = method_id.split(".")
        doc = self.docs[api]
        node: dict[str, Any] = doc
        for resource in path[:-1]:
            node = node["resources"][resource]
        return doc, node["methods"][path[-1]]

    def check_request(
        self, method_id: str, query: dict[str, str], body: dict[str, Any], int_enums: bool
    ) -> list[str]:
        doc, method = self.method(method_id)
        known = set(method.get("parameters", {})) | set(doc.get("parameters", {}))
        problems = [
            f"query parameter {k!r} is not a parameter of {method_id}"
            for k in query
            if k not in known | _TRANSPORT_PARAMS
        ]
        request = method.get("request")
        if request is None:
            if body:
                problems.append(f"{method_id} takes no request body")
            return problems
        return problems + check(doc, request, body, "request", int_enums)

    def check_response(self, method_id: str, body: dict[str, Any]) -> list[str]:
        doc, method = self.method(method_id)
        response = method.get("response")
        if response is None:
            return [] if not body else [f"{method_id} has no response body"]
        return check(doc, response, body, "response", False)


def type_url_schema(type_url: str) -> str:
    """`type.googleapis.com/google.cloud.run.v2.Service` → `GoogleCloudRunV2Service`."""
    full = type_url.rsplit("/", 1)[-1]
    return "".join(part[:1].upper() + part[1:] for part in full.split("."))


def check(
    doc: dict[str, Any], schema: dict[str, Any], value: Any, path: str, ints: bool
) -> list[str]:
    """The violations of `value` against a discovery `schema` (empty when it conforms)."""
    if "$ref" in schema:
        return check(doc, doc["schemas"][schema["$ref"]], value, path, ints)
    kind = schema.get("type")
    if kind == "any":
        return []
    if kind == "object":
        return _check_object(doc, schema, value, path, ints)
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {_kind(value)}"]
        items = schema.get("items", {})
        return [p for i, v in enumerate(value) for p in check(doc, items, v, f"{path}[{i}]", ints)]
    if kind == "boolean":
        return (
            [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {_kind(value)}"]
        )
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return []
        return [f"{path}: expected an integer, got {_kind(value)}"]
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return []
        return [f"{path}: expected a number, got {_kind(value)}"]
    if kind == "string":
        return _check_string(schema, value, path, ints)
    return [f"{path}: schema type {kind!r} is not understood by this check"]


def _check_object(
    doc: dict[str, Any], schema: dict[str, Any], value: Any, path: str, ints: bool
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {_kind(value)}"]
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if extra is not None and extra.get("type") == "any" and "@type" in value:
        return _check_any(doc, value, path, ints)
    problems: list[str] = []
    for key, item in value.items():
        if item is None and (key in props or extra is not None):
            continue  # proto3 JSON: null is any field's default value
        if key in props:
            problems += check(doc, props[key], item, f"{path}.{key}", ints)
        elif extra is not None:
            problems += check(doc, extra, item, f"{path}[{key!r}]", ints)
        else:
            problems.append(f"{path}.{key}: unknown field of {schema.get('id', 'this object')}")
    return problems


def _check_any(doc: dict[str, Any], value: dict[str, Any], path: str, ints: bool) -> list[str]:
    name = type_url_schema(str(value["@type"]))
    if name not in doc["schemas"]:
        return [f"{path}.@type: {value['@type']!r} names no schema of this API"]
    rest = {k: v for k, v in value.items() if k != "@type"}
    return check(doc, doc["schemas"][name], rest, f"{path}<{name}>", ints)


def _check_string(schema: dict[str, Any], value: Any, path: str, ints: bool) -> list[str]:
    fmt = schema.get("format", "")
    if "enum" in schema:
        if ints and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return []  # `enum-encoding=int`: the number of a value
        if value not in schema["enum"]:
            return [f"{path}: {value!r} is not one of {schema['enum']}"]
        return []
    if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
        return []
    if not isinstance(value, str):
        return [f"{path}: expected a string, got {_kind(value)}"]
    if fmt in ("int64", "uint64") and not _INT64.fullmatch(value):
        return [f"{path}: {value!r} is not an {fmt}"]
    if fmt == "google-duration" and not _DURATION.fullmatch(value):
        return [f"{path}: {value!r} is not a duration like '300s'"]
    if fmt == "google-datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return [f"{path}: {value!r} is not an RFC 3339 timestamp"]
    return []


def _kind(value: Any) -> str:
    return type(value).__name__ + f" {json.dumps(value, default=str)[:40]}"
