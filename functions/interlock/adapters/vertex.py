"""Adapters layer: the Vertex AI Model Registry as a `ModelRegistry`, over its REST API (v1).

Three calls (get, listVersions, mergeVersionAliases) as plain JSON (`google_rest`): the
generated `google.cloud.aiplatform_v1` loads every Vertex service and type on import (~1.5 s),
and the high-level `google.cloud.aiplatform` ~2 s more, cold start that no function can afford.
Vertex names a model by project NUMBER in what it returns, and `listVersions` adds `@versionId`:
a `ModelVersion` names its model as the caller did, so names compare equal with the policy's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from interlock.adapters.google_errors import translate
from interlock.adapters.google_rest import GoogleCallError, GoogleRest
from interlock.core.codec import parse_time
from interlock.core.errors import PermanentError
from interlock.ports import ModelVersion

MODEL_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/models/[^/@:]+")


class VertexModelRegistry:
    def __init__(
        self,
        location: str,
        endpoint: str | None = None,
        credentials: Any = None,
        timeout_s: float = 30.0,
    ) -> None:
        """`endpoint` None means the regional endpoint; an http:// endpoint (the local stand-in)
        gets anonymous credentials unless others are given."""
        self.location = location
        self.endpoint = endpoint or f"{location}-aiplatform.googleapis.com"
        self.timeout_s = timeout_s
        self._rest = GoogleRest(self.endpoint, credentials, timeout_s)

    def get_version(self, model: str, version: str) -> ModelVersion:
        _check(model, version)
        what = f"get model {model}@{version}"
        try:
            found = self._rest.call("GET", f"/v1/{model}@{version}", what)
        except GoogleCallError as e:
            raise translate(e, "version", what) from e
        return _to_version(found, model)

    def list_versions(self, model: str) -> list[ModelVersion]:
        _check(model)
        what = f"list versions of {model}"
        found: list[ModelVersion] = []
        token = ""
        try:
            while True:
                page = self._rest.call(
                    "GET", f"/v1/{model}:listVersions", what,
                    query={"pageToken": token} if token else None,
                )  # fmt: skip
                found.extend(_to_version(m, model) for m in page.get("models", ()))
                token = page.get("nextPageToken", "")
                if not token:
                    break
        except GoogleCallError as e:
            raise translate(e, "model", what) from e
        return sorted(found, key=_version_order)

    def merge_aliases(
        self, model: str, version: str, add: Sequence[str], remove: Sequence[str]
    ) -> ModelVersion:
        _check(model, version)
        aliases = [*add, *(f"-{alias}" for alias in remove)]
        if not aliases:
            return self.get_version(model, version)
        what = f"merge aliases {aliases} into {model}@{version}"
        try:
            merged = self._rest.call(
                "POST", f"/v1/{model}@{version}:mergeVersionAliases", what,
                body={"versionAliases": aliases},
            )  # fmt: skip
        except GoogleCallError as e:
            raise translate(e, "aliases", what) from e
        return _to_version(merged, model)


def _check(model: str, version: str | None = None) -> None:
    if not MODEL_NAME.fullmatch(model):
        raise PermanentError("model", f"{model!r} is not projects/P/locations/L/models/M")
    if version is not None and not version:
        raise PermanentError("version", "a model version or alias is required")


def _to_version(found: dict[str, Any], model: str) -> ModelVersion:
    return ModelVersion(
        model=model,
        version=str(found.get("versionId", "")),
        artifact_uri=str(found.get("artifactUri", "")),
        aliases=tuple(sorted(found.get("versionAliases", ()))),  # Vertex promises no order
        labels=dict(found.get("labels", {})),
        description=str(found.get("versionDescription", "")),
        created=_time(found.get("versionCreateTime")),
    )


def _time(value: Any) -> datetime | None:
    """An RFC 3339 time as Google writes it (nanoseconds and all); None when absent or odd."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(re.sub(r"(\.\d{6})\d+", r"\1", value), "versionCreateTime")
    except PermanentError:
        return None


def _version_order(version: ModelVersion) -> tuple[int, str]:
    return (int(version.version), "") if version.version.isdigit() else (0, version.version)
