"""DAG helpers: register a model version in the Vertex AI Model Registry over its REST API.

Used against the local stand-in (the local target). The run's digest is stored as a label, so a
retried `register` task finds the version its earlier attempt uploaded instead of adding another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from interlock_dag import chain, rest
from interlock_dag.chain import run_digest

__all__ = ["Registered", "run_digest", "upload_version"]
log = logging.getLogger(__name__)
RUN_LABEL = chain.RUN


@dataclass(frozen=True)
class Registered:
    model: str  # projects/P/locations/L/models/M
    version: str  # versionId
    reused: bool


def upload_version(
    endpoint: str,
    project: str,
    region: str,
    model_id: str,
    artifact_uri: str,
    image_uri: str,
    run_id: str,
    description: str,
    labels: Mapping[str, str] | None = None,
) -> Registered:
    """Upload a version of `model_id` carrying `labels` (the lineage chain, `chain.labels`) and
    `description`, or find the one an earlier attempt of the same run uploaded."""
    parent = f"projects/{project}/locations/{region}"
    name = f"{parent}/models/{model_id}"
    digest = run_digest(run_id)
    exists = _model_exists(endpoint, name)
    if exists:
        earlier = _version_of_run(endpoint, name, digest)
        if earlier is not None:
            return Registered(name, earlier, reused=True)
    spec: dict[str, Any] = {
        "displayName": model_id,
        "artifactUri": artifact_uri,
        "containerSpec": {"imageUri": image_uri},
        "labels": {**(labels or {}), chain.MODEL: model_id, RUN_LABEL: digest},
        "versionDescription": description,
    }
    body: dict[str, Any] = {"model": spec}
    if exists:
        body["parentModel"] = name
    else:
        body["modelId"] = model_id
    try:
        _, op = rest.call("POST", f"{endpoint}/v1/{parent}/models:upload", body)
    except rest.Refused as e:
        if e.status != 409 or exists:
            raise
        # Another run created the model between our GET and POST: become its next version.
        log.info("model %s appeared concurrently; uploading as a new version", name)
        body.pop("modelId")
        body["parentModel"] = name
        _, op = rest.call("POST", f"{endpoint}/v1/{parent}/models:upload", body)
    response = rest.wait_operation(endpoint, op)
    return Registered(str(response["model"]), str(response["modelVersionId"]), reused=False)


def _model_exists(endpoint: str, name: str) -> bool:
    try:
        rest.call("GET", f"{endpoint}/v1/{quote(name)}")
    except rest.Refused as e:
        if e.status == 404:
            return False
        raise
    return True


def _version_of_run(endpoint: str, name: str, digest: str) -> str | None:
    token = ""
    while True:
        query = f"?pageSize=100&pageToken={quote(token)}" if token else "?pageSize=100"
        _, page = rest.call("GET", f"{endpoint}/v1/{quote(name)}:listVersions{query}")
        for version in page.get("models") or []:
            if (version.get("labels") or {}).get(RUN_LABEL) == digest:
                return str(version["versionId"])
        token = str(page.get("nextPageToken") or "")
        if not token:
            return None
