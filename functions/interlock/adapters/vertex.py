"""Adapters layer: the Vertex AI Model Registry as a `ModelRegistry`, over the REST GAPIC client.

Only `google.cloud.aiplatform_v1` is imported, and only on first use: the high-level
`google.cloud.aiplatform` package costs ~2 s of cold start that no function can afford.
Vertex names a model by project NUMBER in what it returns, and `listVersions` adds `@versionId`:
a `ModelVersion` names its model as the caller did, so names compare equal with the policy's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from interlock.adapters.google_errors import client_failures, translate
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
        self._credentials = credentials
        self._client: Any = None

    def _model_service(self) -> Any:
        if self._client is None:
            from google.cloud import aiplatform_v1

            credentials = self._credentials
            if credentials is None and self.endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            self._client = aiplatform_v1.ModelServiceClient(
                transport="rest",
                client_options={"api_endpoint": self.endpoint},
                credentials=credentials,
            )
        return self._client

    def get_version(self, model: str, version: str) -> ModelVersion:
        _check(model, version)
        try:
            found = self._model_service().get_model(
                name=f"{model}@{version}", timeout=self.timeout_s, retry=None
            )
        except client_failures() as e:
            raise translate(e, "version", f"get model {model}@{version}") from e
        return _to_version(found, model)

    def list_versions(self, model: str) -> list[ModelVersion]:
        _check(model)
        try:
            pager = self._model_service().list_model_versions(
                name=model, timeout=self.timeout_s, retry=None
            )
            found = [_to_version(m, model) for m in pager]  # iterating fetches further pages
        except client_failures() as e:
            raise translate(e, "model", f"list versions of {model}") from e
        return sorted(found, key=_version_order)

    def merge_aliases(
        self, model: str, version: str, add: Sequence[str], remove: Sequence[str]
    ) -> ModelVersion:
        _check(model, version)
        aliases = [*add, *(f"-{alias}" for alias in remove)]
        if not aliases:
            return self.get_version(model, version)
        try:
            merged = self._model_service().merge_version_aliases(
                name=f"{model}@{version}",
                version_aliases=aliases,
                timeout=self.timeout_s,
                retry=None,
            )
        except client_failures() as e:
            raise translate(e, "aliases", f"merge aliases {aliases} into {model}@{version}") from e
        return _to_version(merged, model)


def _check(model: str, version: str | None = None) -> None:
    if not MODEL_NAME.fullmatch(model):
        raise PermanentError("model", f"{model!r} is not projects/P/locations/L/models/M")
    if version is not None and not version:
        raise PermanentError("version", "a model version or alias is required")


def _to_version(found: Any, model: str) -> ModelVersion:
    return ModelVersion(
        model=model,
        version=found.version_id,
        artifact_uri=found.artifact_uri,
        aliases=tuple(sorted(found.version_aliases)),  # Vertex promises no order
        labels=dict(found.labels),
    )


def _version_order(version: ModelVersion) -> tuple[int, str]:
    return (int(version.version), "") if version.version.isdigit() else (0, version.version)
