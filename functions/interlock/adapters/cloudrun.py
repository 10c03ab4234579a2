"""Adapters layer: Cloud Run Admin v2 as a `TrafficRouter` — revisions and the traffic block.

Every write carries the etag of the read it is based on, so a racing writer makes ours fail
(ABORTED, or FAILED_PRECONDITION with the etag changed: transient) instead of silently undoing
theirs; every write waits for its operation and then re-reads what is actually served.
Cloud Run as it behaves (../shared/reference/google-api-fidelity.md): a LATEST traffic status
names no revision, so it is resolved through `latest_ready_revision`; a traffic write sends only
the `traffic` field (update mask), so the echoed template can never be judged a different
configuration; a revision that failed to become ready stays under its name for good, so it is a
permanent error that says what to do (docs/operations.md §8, "A revision that failed to become ready").
Plain JSON over `google_rest` (the REST API v2, as the generated client's REST transport sends
it), not `google.cloud.run_v2`: that loads gRPC and proto-plus, ~0.5 s of every cold start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from interlock.adapters.google_errors import message_of, rpc_status, translate
from interlock.adapters.google_rest import GoogleCallError, GoogleRest
from interlock.core.effects import TrafficSplit
from interlock.core.errors import PermanentError, TransientError
from interlock.core.text import one_line
from interlock.ports import RevisionSpec, TagUrl

SERVICE_NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)/services/[^/]+")
# google.cloud.run.v2.Condition.State; JSON names them, `enum-encoding=int` numbers them
_READY_FAILED = 3
_READY_SUCCEEDED = 4
_STATES = {"CONDITION_FAILED": _READY_FAILED, "CONDITION_SUCCEEDED": _READY_SUCCEEDED}
_LATEST = ("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", 1)
_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
Json = dict[str, Any]


class CloudRunTrafficRouter:
    def __init__(
        self,
        location: str,
        project: str | None = None,
        endpoint: str | None = None,
        credentials: Any = None,
        timeout_s: float = 30.0,
        operation_timeout_s: float = 480.0,  # inside a function's 540 s limit
        poll_initial_s: float = 0.2,
        poll_max_s: float = 5.0,
    ) -> None:
        """`service` arguments are full names, or bare ids when `project` is given.

        `endpoint` None means the regional default; an http:// endpoint (the local stand-in)
        gets anonymous credentials unless others are given.
        """
        self.location = location
        self.project = project
        self.endpoint = endpoint or "run.googleapis.com"
        self.timeout_s = timeout_s
        self.operation_timeout_s = operation_timeout_s
        self.poll_initial_s = poll_initial_s
        self.poll_max_s = poll_max_s
        self._rest = GoogleRest(self.endpoint, credentials, timeout_s)

    # --- the port -------------------------------------------------------------------------------

    def ensure_revision(self, service: str, spec: RevisionSpec) -> str:
        name = self._service_name(service)
        existing = self._get_revision(name, spec.name)
        if existing is not None:
            return self._accept_existing(name, existing, spec)
        current = self._get_service(name)
        if not current.get("trafficStatuses"):
            raise TransientError(f"service {name} serves no traffic yet (still reconciling?)")
        served = self._served(current)
        template = current.setdefault("template", {})
        template["revision"] = spec.name
        template["labels"] = dict(spec.labels)
        containers = list(template.get("containers") or [{}])
        container = containers[0]
        container["image"] = spec.image
        container["env"] = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
        container["ports"] = [{"name": "http1", "containerPort": spec.port}]
        tcp = container.get("startupProbe", {}).get("tcpSocket", {})
        if tcp.get("port"):
            # The server-defaulted probe echoes the old port: knock where the new one listens.
            tcp["port"] = spec.port
        template["containers"] = [container, *containers[1:]]
        # Without an explicit block Cloud Run routes 100 % to LATEST, i.e. to the new revision:
        # pin what is served now, by concrete revision name, so the new one gets nothing.
        current["traffic"] = [_target(s.revision, s.percent, s.tag) for s in served]
        try:
            self._update(current, f"create revision {spec.name} of {name}", field="revision")
        except TransientError:
            # A rollout that failed may have left the revision behind, failed for good.
            failed = self._get_revision(name, spec.name)
            if failed is not None and _ready_state(failed) == _READY_FAILED:
                return self._accept_existing(name, failed, spec)
            raise
        created = self._get_revision(name, spec.name)
        if created is None:
            raise TransientError(f"revision {spec.name} of {name} missing after its operation")
        return self._accept_existing(name, created, spec)

    def set_traffic(self, service: str, splits: Sequence[TrafficSplit]) -> tuple[TrafficSplit, ...]:
        name = self._service_name(service)
        for i, split in enumerate(splits):
            self._check_can_serve(name, split, f"splits[{i}].revision")
        current = self._get_service(name)
        current["traffic"] = [_target(s.revision, s.percent, s.tag) for s in splits]
        self._update(current, f"set traffic of {name}", field="splits", mask=("traffic",))
        served = self.get_traffic(name)
        if _canonical(served) != _canonical(splits):
            raise TransientError(
                f"traffic of {name} not as requested after the update: served "
                f"{[s.describe() for s in served]}, wanted {[s.describe() for s in splits]}"
            )
        return served

    def get_traffic(self, service: str) -> tuple[TrafficSplit, ...]:
        return self._served(self._get_service(self._service_name(service)))

    def tag_revision(self, service: str, revision: str, tag: str) -> TagUrl:
        name = self._service_name(service)
        self._check_can_serve(name, TrafficSplit(revision, 0, tag), "revision")
        current = self._get_service(name)
        served = self._served(current)
        if not any(s.revision == revision and s.tag == tag for s in served):
            # The tag moves here: a 0 % target that only carried it goes, any other loses it.
            kept = [s for s in served if s.tag != tag or s.percent]
            current["traffic"] = [
                _target(s.revision, s.percent, None if s.tag == tag else s.tag) for s in kept
            ] + [_target(revision, 0, tag)]
            action = f"tag revision {revision} of {name} as {tag!r}"
            self._update(current, action, field="revision", mask=("traffic",))
            current = self._get_service(name)
        latest = current.get("latestReadyRevision", "").rsplit("/", 1)[-1]
        for status in current.get("trafficStatuses", ()):
            mine = status.get("tag") == tag and (status.get("revision") or latest) == revision
            if mine and status.get("uri"):
                return TagUrl(str(status["uri"]), str(current.get("uri", "")))
        raise TransientError(f"tag {tag!r} of {name} has no URL yet (still reconciling?)")

    # --- calls ----------------------------------------------------------------------------------

    def _served(self, current: Json) -> tuple[TrafficSplit, ...]:
        """The traffic statuses by concrete revision: a LATEST one names none on v2."""
        latest = current.get("latestReadyRevision", "").rsplit("/", 1)[-1]
        served = []
        for status in current.get("trafficStatuses", ()):
            revision = status.get("revision", "")
            if not revision and status.get("type") in _LATEST:
                revision = latest
            if not revision:
                raise TransientError(
                    f"service {current.get('name')} routes to LATEST but has no ready revision yet"
                )
            served.append(
                TrafficSplit(revision, int(status.get("percent", 0)), status.get("tag") or None)
            )
        return tuple(served)

    def _check_can_serve(self, service: str, split: TrafficSplit, field: str) -> None:
        """Cloud Run accepts traffic naming a missing or failed revision and then fails the
        rollout (an operation error, retried as transient): refuse it here, permanently."""
        revision = self._get_revision(service, split.revision)
        if revision is None:
            raise PermanentError(field, f"revision {split.revision} of {service} does not exist")
        if split.percent and _ready_state(revision) == _READY_FAILED:
            raise PermanentError(
                field,
                f"revision {split.revision} of {service} failed to become ready and cannot "
                f"serve traffic: {one_line(_ready_message(revision))}",
            )

    def _service_name(self, service: str) -> str:
        if "/" not in service and self.project:
            service = f"projects/{self.project}/locations/{self.location}/services/{service}"
        if not SERVICE_NAME.fullmatch(service):
            raise PermanentError("service", f"{service!r} is not projects/P/locations/L/services/S")
        return service

    def _get_service(self, name: str) -> Json:
        what = f"get service {name}"
        try:
            return self._rest.call("GET", f"/v2/{name}", what)
        except GoogleCallError as e:
            raise translate(e, "service", what) from e

    def _get_revision(self, service: str, revision: str) -> Json | None:
        what = f"get revision {revision} of {service}"
        try:
            return self._rest.call("GET", f"/v2/{service}/revisions/{revision}", what)
        except GoogleCallError as e:
            if e.code == 404:
                return None
            raise translate(e, "revision", what) from e

    def _update(self, service: Json, action: str, field: str, mask: Sequence[str] = ()) -> None:
        query = {"updateMask": ",".join(mask)} if mask else None
        # The name travels in the path only, as the generated client's transcoding sends it.
        body = {k: v for k, v in service.items() if k != "name"}
        try:
            operation = self._rest.call(
                "PATCH", f"/v2/{service['name']}", action, body=body, query=query
            )
        except GoogleCallError as e:
            raise self._write_refused(e, service, action, field) from e
        self._wait(operation, action)

    def _wait(self, operation: Json, action: str) -> None:
        """Poll the operation as google-api-core's blocking poll does (at once, then backing
        off from `poll_initial_s` by 1.5x up to `poll_max_s`) until done or out of time."""
        deadline = time.monotonic() + self.operation_timeout_s
        delay = self.poll_initial_s
        while True:
            try:
                operation = self._rest.call("GET", f"/v2/{operation['name']}", action)
            except GoogleCallError as e:
                raise TransientError(f"{action}: operation unknown: {message_of(e)}") from e
            if operation.get("done"):
                break
            if time.monotonic() + delay > deadline:
                raise TransientError(
                    f"{action}: operation not done after {self.operation_timeout_s}s"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, self.poll_max_s)
        error = operation.get("error")
        if error:
            # The write was accepted; its rollout failed. The served state is whatever it was,
            # and trying again later is the remedy.
            text = one_line(str(error.get("message", "")), 300)
            raise TransientError(f"{action}: operation failed: {text}")

    def _write_refused(
        self, e: GoogleCallError, service: Json, action: str, field: str
    ) -> Exception:
        """A refused write, judged by the status in the error body, never by its wording."""
        status = rpc_status(e)
        if status == "ALREADY_EXISTS":
            # A revision name is the key of one (service, model version): a different
            # template under it is a bug or a clash, never fixed by retrying.
            return PermanentError(field, f"{action}: ALREADY_EXISTS: {message_of(e)}")
        if status == "ABORTED" or (
            status == "FAILED_PRECONDITION"
            and self._etag_moved(service["name"], service.get("etag", ""))
        ):
            # AIP-154 answers a stale etag with ABORTED; FAILED_PRECONDITION with the etag
            # moved on is the same race told the older way. Re-read and try again.
            return TransientError(f"{action}: conflicting writer: {message_of(e)}")
        return translate(e, field, action)

    def _etag_moved(self, name: str, etag: str) -> bool:
        try:
            return bool(etag) and self._get_service(name).get("etag") != etag
        except TransientError:
            return True  # cannot tell: a retry is the safe side
        except PermanentError:
            return False

    def _accept_existing(self, service: str, revision: Json, spec: RevisionSpec) -> str:
        containers = revision.get("containers") or [{}]
        image = containers[0].get("image", "")
        env = {e.get("name"): e.get("value", "") for e in containers[0].get("env", ())}
        if image != spec.image or env != dict(spec.env):
            raise PermanentError(
                "revision",
                f"revision {spec.name} already exists with a different image or env "
                f"(has {one_line(image, 200)}, wanted {spec.image})",
            )
        state = _ready_state(revision)
        if state == _READY_FAILED and not revision.get("reconciling"):
            raise PermanentError("revision", _failed_revision_reason(service, spec.name, revision))
        if state != _READY_SUCCEEDED:
            raise TransientError(f"revision {spec.name} exists but is not ready yet")
        return spec.name


def _target(revision: str, percent: int, tag: str | None) -> Json:
    """A traffic target as proto3 JSON writes it: zero and empty fields left out."""
    target: Json = {"type": _REVISION, "revision": revision}
    if percent:
        target["percent"] = percent
    if tag:
        target["tag"] = tag
    return target


def _ready_condition(revision: Json) -> Json | None:
    ready = [c for c in revision.get("conditions", ()) if c.get("type") == "Ready"]
    return ready[0] if ready else None


def _ready_state(revision: Json) -> int:
    condition = _ready_condition(revision)
    state = 0 if condition is None else condition.get("state", 0)
    return state if isinstance(state, int) else _STATES.get(state, 0)


def _ready_message(revision: Json) -> str:
    condition = _ready_condition(revision)
    return "" if condition is None else str(condition.get("message", ""))


def _failed_revision_reason(service: str, revision: str, found: Json) -> str:
    """Cloud Run keeps a failed revision under its name, and interlock derives that name from
    (service, model version): retrying can never succeed, so say exactly what will."""
    match = SERVICE_NAME.fullmatch(service)
    project, region = match.groups() if match else ("PROJECT", "REGION")
    return (
        f"revision {revision} of {service} failed to become ready "
        f"({one_line(_ready_message(found), 240) or 'no message'}); Cloud Run keeps a failed "
        f"revision and interlock names revisions by model version, so this one is never "
        f"retried. Fix the cause, then either delete it (gcloud run revisions delete {revision} "
        f"--region {region} --project {project}) and replay this event from the dead-letter "
        f"topic, or register the fixed model as a new version"
    )


def _canonical(splits: Sequence[TrafficSplit]) -> list[tuple[str, int, str]]:
    return sorted((s.revision, s.percent, s.tag or "") for s in splits)
