"""Local stack (stand-in): wire details shared by both APIs — timestamps, etags, enum encoding.

GAPIC REST clients send `$alt=json;enum-encoding=int`: enums arrive as numbers and the client
asks for numbers back (protobuf's JSON parser accepts either). We keep names internally and
encode on the way out, so raw HTTP callers without that parameter see names, as from Google.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

# Cloud Run v2 enums the stand-in interprets or sets, by JSON field name.
RUN_ENUMS: dict[str, dict[str, int]] = {
    "type": {  # TrafficTarget.type / TrafficTargetStatus.type (Condition.type is a string)
        "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED": 0,
        "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST": 1,
        "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION": 2,
    },
    "state": {
        "STATE_UNSPECIFIED": 0,
        "CONDITION_PENDING": 1,
        "CONDITION_RECONCILING": 2,
        "CONDITION_FAILED": 3,
        "CONDITION_SUCCEEDED": 4,
    },
    "severity": {"SEVERITY_UNSPECIFIED": 0, "ERROR": 1, "WARNING": 2, "INFO": 3},
    "ingress": {
        "INGRESS_TRAFFIC_UNSPECIFIED": 0,
        "INGRESS_TRAFFIC_ALL": 1,
        "INGRESS_TRAFFIC_INTERNAL_ONLY": 2,
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": 3,
        "INGRESS_TRAFFIC_NONE": 4,
    },
    "launchStage": {
        "LAUNCH_STAGE_UNSPECIFIED": 0,
        "UNIMPLEMENTED": 6,
        "PRELAUNCH": 7,
        "EARLY_ACCESS": 1,
        "ALPHA": 2,
        "BETA": 3,
        "GA": 4,
        "DEPRECATED": 5,
    },
    "executionEnvironment": {
        "EXECUTION_ENVIRONMENT_UNSPECIFIED": 0,
        "EXECUTION_ENVIRONMENT_GEN1": 1,
        "EXECUTION_ENVIRONMENT_GEN2": 2,
    },
}
_RUN_ENUM_NAMES = {field: {v: k for k, v in names.items()} for field, names in RUN_ENUMS.items()}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_etag() -> str:
    return secrets.token_hex(8)


def enums_to_names(value: Any) -> Any:
    """Normalise incoming JSON: numeric Cloud Run enums become their names."""
    return _walk(
        value, lambda field, v: _RUN_ENUM_NAMES[field].get(v, v) if isinstance(v, int) else v
    )


def enums_to_numbers(value: Any) -> Any:
    """Encode outgoing JSON for a client that asked for `enum-encoding=int`."""
    return _walk(value, lambda field, v: RUN_ENUMS[field].get(v, v) if isinstance(v, str) else v)


def _walk(value: Any, convert: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in RUN_ENUMS and not isinstance(item, dict | list):
                out[key] = convert(key, item)
            else:
                out[key] = _walk(item, convert)
        return out
    if isinstance(value, list):
        return [_walk(item, convert) for item in value]
    return value


def prune(value: Any) -> Any:
    """Drop proto3 defaults (None, "", 0-length) so templates compare as the server would."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def project_number(project: str) -> str:
    """A project's number, as Google answers with it: deterministic per project id here."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest()[:12], 16)
    return str(100_000_000_000 + digest % 900_000_000_000)
