"""Local stack (stand-in): Cloud Run's rules for a write — server defaults, masks, revisions, traffic.

Each rule is Google's, with the evidence in ../shared/reference/google-api-fidelity.md (by finding
number): templates are compared after the defaults the server fills in (5); clearing or changing
`template.revision` is a change (5); `updateMask` paths may be nested and a PATCH without one
replaces the whole spec (10); tag + service name is at most 46 characters (3); traffic naming a
missing or failed revision is not refused here but fails the operation (4, 1).
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from interlock_dev.standin.errors import ApiError, invalid
from interlock_dev.standin.wire import enums_to_names, project_number

LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
DNS_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_TAG_AND_SERVICE = 46  # `tag---service` is the tag URL's DNS label
# What a client may set; everything else on a Service is output only and ignored on input.
SPEC_FIELDS = (
    "description", "labels", "annotations", "client", "clientVersion", "ingress", "launchStage",
    "binaryAuthorization", "template", "traffic", "scaling", "invokerIamDisabled",
    "defaultUriDisabled", "customAudiences",
)  # fmt: skip
SPEC_DEFAULTS = {"ingress": "INGRESS_TRAFFIC_ALL", "launchStage": "GA"}


def spec_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(body[k]) for k in SPEC_FIELDS if k in body}


def masked(current: dict[str, Any], sent: dict[str, Any], mask: list[str]) -> dict[str, Any]:
    """The spec after a PATCH: each mask path (`a.b.c`) copied from `sent`, or cleared there.

    Without a mask the sent spec replaces the whole spec (proto3 JSON omits empty fields, so an
    absent field is a cleared one), as `UpdateService` documents.
    """
    if not mask:
        return {**SPEC_DEFAULTS, **sent}
    spec = copy.deepcopy(current)
    for path in mask:
        keys = path.split(".")
        if keys[0] not in SPEC_FIELDS:
            raise invalid(f"update_mask path {path!r} is not a settable field of Service.")
        source: Any = sent
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        target = spec
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if source is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = copy.deepcopy(source)
    return spec


def with_defaults(template: dict[str, Any], project: str) -> dict[str, Any]:
    """The template as Cloud Run stores and echoes it (the v2 capture in the reference, §5)."""
    template = enums_to_names(template)
    template.setdefault("timeout", "300s")
    template.setdefault("maxInstanceRequestConcurrency", 80)
    template.setdefault(
        "serviceAccount", f"{project_number(project)}-compute@developer.gserviceaccount.com"
    )
    template.setdefault("scaling", {}).setdefault("maxInstanceCount", 100)
    for container in template.get("containers") or []:
        resources = container.setdefault("resources", {})
        resources.setdefault("limits", {"cpu": "1000m", "memory": "512Mi"})
        resources.setdefault("cpuIdle", True)
        resources.setdefault("startupCpuBoost", True)
        ports = container.setdefault("ports", [{"containerPort": 8080}])
        for port in ports:
            port.setdefault("name", "http1")
            port.setdefault("containerPort", 8080)
        # Defaulted once, to the port of that time: an echoed probe keeps it (finding 5).
        container.setdefault(
            "startupProbe",
            {
                "failureThreshold": 1,
                "periodSeconds": 240,
                "timeoutSeconds": 240,
                "tcpSocket": {"port": ports[0]["containerPort"]},
            },
        )
    return dict(template)


def probe_failure(template: dict[str, Any]) -> str | None:
    """Why the revision would never become ready: its TCP startup probe knocks on a closed port."""
    for container in template.get("containers") or []:
        probe = (container.get("startupProbe") or {}).get("tcpSocket")
        serving = (container.get("ports") or [{}])[0].get("containerPort", 8080)
        if probe is not None and int(probe.get("port") or serving) != int(serving):
            return (
                f"The user-provided container failed the configured startup probe checks. "
                f"Default STARTUP TCP probe failed 1 time consecutively for container "
                f"'{container.get('name', 'container-1')}' on port {probe['port']}."
            )
    return None


def body_of(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in template.items() if k != "revision"}


def new_revision(
    existing: dict[str, Any] | None,
    service: dict[str, Any],
    template: dict[str, Any],
    creating: bool,
    force: bool,
) -> str | None:
    """The revision this write creates, or None when nothing changed (and `force` is off).

    `existing` is the stored template of the revision `template.revision` names, if any.
    """
    short = service["name"].rsplit("/", 1)[-1]
    wanted = str(template.get("revision", ""))
    if wanted:
        if not wanted.startswith(short + "-") or not DNS_NAME.fullmatch(wanted):
            raise invalid(
                f"Revision name {wanted!r} must be a DNS label prefixed with the service name "
                f"'{short}-'."
            )
        if existing is not None:
            if body_of(existing) != body_of(template) or force:
                raise ApiError(
                    "ALREADY_EXISTS",
                    f"Revision named '{wanted}' with different configuration already exists.",
                )
            return None
        return wanted
    current = service.get("template") or {}
    # Clearing an explicit name changes the template too (terraform-provider-google#13410).
    unchanged = body_of(current) == body_of(template) and not current.get("revision")
    if unchanged and not creating and not force:
        return None
    return f"{short}-{int(service['generation']) + 1:05d}-{uuid.uuid4().hex[:3]}"


def check_traffic(service_id: str, traffic: list[dict[str, Any]]) -> None:
    """What Cloud Run refuses at once (400); revisions are judged later, by the operation."""
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
            if not target.get("revision"):
                raise invalid(f"spec.traffic[{i}].revision is required for a REVISION target.")
        else:
            raise invalid(f"spec.traffic[{i}].type {kind!r} is not a valid allocation type.")
        tag = target.get("tag")
        if tag:
            if not DNS_NAME.fullmatch(tag):
                raise invalid(f"spec.traffic[{i}].tag {tag!r} must be a lowercase DNS label.")
            if len(tag) + len(service_id) > MAX_TAG_AND_SERVICE:
                raise invalid(
                    f"spec.traffic.tag: traffic tag '{tag}' and service name '{service_id}' "
                    f"together are too long. Combined traffic tag and service name cannot exceed "
                    f"{MAX_TAG_AND_SERVICE} characters."
                )
            if tag in tags:
                raise invalid(f"spec.traffic: tag '{tag}' is used more than once.")
            tags.add(tag)
    if total != 100:
        raise invalid(f"spec.traffic: percents must sum to 100, got {total}.")


def traffic_failure(
    traffic: list[dict[str, Any]], revisions: dict[str, bool], new: str | None
) -> dict[str, Any] | None:
    """The google.rpc.Status the operation ends with when traffic names an unusable revision.

    `revisions` maps each existing revision's short name to whether it is ready.
    """
    for target in traffic:
        name = target.get("revision")
        if not name or name == new:
            continue
        if name not in revisions:
            return {
                "code": 13,
                "message": f"Revision '{name}' does not exist or is deleted. Update all traffic "
                f"to route to currently available revisions.",
            }
        if not revisions[name] and int(target.get("percent") or 0) > 0:
            return {
                "code": 9,
                "message": f"Revision '{name}' is not ready and cannot serve traffic.",
            }
    return None
