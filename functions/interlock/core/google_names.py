"""Core layer: what Google Cloud refuses in a policy's resource names, found before deploying.

`interlock policy check` must refuse what Cloud Run and Vertex AI would refuse later, mid-rollout:
a Cloud Run service id that leaves no room for interlock's traffic tags (Cloud Run allows at most
46 characters for tag + service id, because `tag---service` is the tag URL's DNS label), and
service or model resource names Google's APIs do not accept. Pure: a parsed policy document's
`models` list in, "path: problem" lines out (the policy validator's form).
"""

from __future__ import annotations

import re
from typing import Any

from interlock.core.effects import TRAFFIC_TAGS

MAX_TAG_AND_SERVICE = 46
# A project id (domain-scoped ones have "example.com:"), or a number, and a location: lowercase
# segments. Deliberately no stricter: Google's own 404 is clear there, and short test names
# (projects/p/locations/l) must stay valid.
_PROJECT = r"[a-z0-9][a-z0-9.:-]{0,62}"
_LOCATION = r"[a-z0-9][a-z0-9-]{0,62}"
SERVICE_NAME = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/services/(?P<id>[^/]*)")
MODEL_NAME = re.compile(rf"projects/{_PROJECT}/locations/{_LOCATION}/models/(?P<id>[^/]*)")
# services.create serviceId: "must begin with letter, and cannot end with hyphen; must contain
# fewer than 50 characters" (run.v2 discovery document), lowercase as a DNS label.
SERVICE_ID = re.compile(r"[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?")
# UploadModelRequest.model_id: up to 63 of [a-z0-9_-], not starting with a number or hyphen;
# models Vertex named itself have numeric ids.
MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}|[0-9]{1,20}")


def problems(models: Any) -> list[str]:
    """Every Google naming problem in a policy document's `models` list (other shapes are the
    policy validator's to report, so they are skipped here)."""
    found: list[str] = []
    if not isinstance(models, list):
        return found
    for i, model in enumerate(models):
        if not isinstance(model, dict):
            continue
        service = model.get("service")
        if isinstance(service, str):
            found += [f"models[{i}].service: {p}" for p in service_problems(service)]
        vertex_model = model.get("vertex_model")
        if isinstance(vertex_model, str):
            found += [f"models[{i}].vertex_model: {p}" for p in model_problems(vertex_model)]
    return found


def service_problems(name: str) -> list[str]:
    match = SERVICE_NAME.fullmatch(name)
    if match is None:
        return [
            f"{name[:120]!r} is not a Cloud Run service name "
            f"projects/PROJECT/locations/REGION/services/SERVICE_ID"
        ]
    service_id = match["id"]
    if not SERVICE_ID.fullmatch(service_id):
        return [
            f"service id {service_id[:60]!r} is not one Cloud Run accepts: lowercase letters, "
            f"digits and hyphens, a letter first, no hyphen last, at most 49 characters"
        ]
    longest = max(TRAFFIC_TAGS, key=len)
    room = MAX_TAG_AND_SERVICE - len(longest)
    if len(service_id) > room:
        return [
            f"service id {service_id!r} has {len(service_id)} characters, at most {room} leave "
            f"room for interlock's traffic tag {longest!r}: Cloud Run refuses a tag whose tag "
            f"and service id together exceed {MAX_TAG_AND_SERVICE} characters"
        ]
    return []


def model_problems(name: str) -> list[str]:
    match = MODEL_NAME.fullmatch(name)
    if match is None:
        return [
            f"{name[:120]!r} is not a Vertex AI model name "
            f"projects/PROJECT/locations/REGION/models/MODEL_ID (no @version)"
        ]
    if not MODEL_ID.fullmatch(match["id"]):
        return [
            f"model id {match['id'][:70]!r} is not one Vertex AI accepts: up to 63 of "
            f"[a-z0-9_-], not starting with a digit or hyphen (or a numeric id)"
        ]
    return []
