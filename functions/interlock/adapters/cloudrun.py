"""Adapters layer: Cloud Run Admin v2 as a `TrafficRouter` — revisions and the traffic block.

Every write carries the etag of the read it is based on, so a racing writer makes ours fail
(ABORTED, or FAILED_PRECONDITION with the etag changed: transient) instead of silently undoing
theirs; every write waits for its operation and then re-reads what is actually served.
Cloud Run as it behaves (../shared/reference/google-api-fidelity.md): a LATEST traffic status
names no revision, so it is resolved through `latest_ready_revision`; a traffic write sends only
the `traffic` field (update mask), so the echoed template can never be judged a different
configuration; a revision that failed to become ready stays under its name for good, so it is a
permanent error that says what to do (docs/operations.md §8, "A revision that failed to become ready").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from interlock.adapters.google_errors import client_failures, message_of, rpc_status, translate
from interlock.core.effects import TrafficSplit
from interlock.core.errors import PermanentError, TransientError
from interlock.core.text import one_line
from interlock.ports import RevisionSpec

SERVICE_NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)/services/[^/]+")
# google.cloud.run.v2.Condition.State
_READY_FAILED = 3
_READY_SUCCEEDED = 4
_LATEST = 1  # TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST


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
        self._credentials = credentials
        self._clients: tuple[Any, Any, Any] | None = None

    def _run(self) -> tuple[Any, Any, Any]:
        """(run_v2 module, ServicesClient, RevisionsClient), built on first use."""
        if self._clients is None:
            from google.cloud import run_v2

            credentials = self._credentials
            if credentials is None and self.endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            options = {"api_endpoint": self.endpoint}
            self._clients = (
                run_v2,
                run_v2.ServicesClient(
                    transport="rest", client_options=options, credentials=credentials
                ),
                run_v2.RevisionsClient(
                    transport="rest", client_options=options, credentials=credentials
                ),
            )
        return self._clients

    # --- the port -------------------------------------------------------------------------------

    def ensure_revision(self, service: str, spec: RevisionSpec) -> str:
        name = self._service_name(service)
        existing = self._get_revision(name, spec.name)
        if existing is not None:
            return self._accept_existing(name, existing, spec)
        current = self._get_service(name)
        if not current.traffic_statuses:
            raise TransientError(f"service {name} serves no traffic yet (still reconciling?)")
        served = self._served(current)
        run_v2 = self._run()[0]
        template = current.template
        template.revision = spec.name
        template.labels.clear()
        template.labels.update(dict(spec.labels))
        container = template.containers[0] if template.containers else run_v2.Container()
        container.image = spec.image
        container.env = [run_v2.EnvVar(name=k, value=v) for k, v in sorted(spec.env.items())]
        container.ports = [run_v2.ContainerPort(name="http1", container_port=spec.port)]
        if container.startup_probe.tcp_socket.port:
            # The server-defaulted probe echoes the old port: knock where the new one listens.
            container.startup_probe.tcp_socket.port = spec.port
        template.containers = [container, *list(template.containers)[1:]]
        # Without an explicit block Cloud Run routes 100 % to LATEST, i.e. to the new revision:
        # pin what is served now, by concrete revision name, so the new one gets nothing.
        current.traffic = [self._target(s.revision, s.percent, s.tag) for s in served]
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
        current.traffic = [self._target(s.revision, s.percent, s.tag) for s in splits]
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

    # --- calls ----------------------------------------------------------------------------------

    def _served(self, current: Any) -> tuple[TrafficSplit, ...]:
        """The traffic statuses by concrete revision: a LATEST one names none on v2."""
        latest = current.latest_ready_revision.rsplit("/", 1)[-1]
        served = []
        for status in current.traffic_statuses:
            revision = status.revision
            if not revision and int(status.type_) == _LATEST:
                revision = latest
            if not revision:
                raise TransientError(
                    f"service {current.name} routes to LATEST but has no ready revision yet"
                )
            served.append(TrafficSplit(revision, status.percent, status.tag or None))
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

    def _get_service(self, name: str) -> Any:
        try:
            return self._run()[1].get_service(name=name, timeout=self.timeout_s, retry=None)
        except client_failures() as e:
            raise translate(e, "service", f"get service {name}") from e

    def _get_revision(self, service: str, revision: str) -> Any | None:
        from google.api_core import exceptions as gexc

        try:
            return self._run()[2].get_revision(
                name=f"{service}/revisions/{revision}", timeout=self.timeout_s, retry=None
            )
        except gexc.NotFound:
            return None
        except client_failures() as e:
            raise translate(e, "revision", f"get revision {revision} of {service}") from e

    def _update(self, service: Any, action: str, field: str, mask: Sequence[str] = ()) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core.future.polling import DEFAULT_POLLING
        from google.protobuf import field_mask_pb2

        request = self._run()[0].UpdateServiceRequest(service=service)
        if mask:
            request.update_mask = field_mask_pb2.FieldMask(paths=list(mask))
        try:
            operation = self._run()[1].update_service(
                request=request, timeout=self.timeout_s, retry=None
            )
        except gexc.GoogleAPICallError as e:
            raise self._write_refused(e, service, action, field) from e
        except client_failures() as e:
            raise translate(e, field, action) from e
        polling = DEFAULT_POLLING.with_delay(
            initial=self.poll_initial_s, maximum=self.poll_max_s, multiplier=1.5
        )
        try:
            operation.result(timeout=self.operation_timeout_s, polling=polling)
        except client_failures() as e:
            # The write was accepted; its rollout failed or we stopped waiting. Either way the
            # served state is whatever it was, and trying again later is the remedy.
            raise TransientError(f"{action}: operation failed: {message_of(e)}") from e

    def _write_refused(self, e: Any, service: Any, action: str, field: str) -> Exception:
        """A refused write, judged by the status in the error body, never by its wording."""
        status = rpc_status(e)
        if status == "ALREADY_EXISTS":
            # A revision name is the key of one (service, model version): a different
            # template under it is a bug or a clash, never fixed by retrying.
            return PermanentError(field, f"{action}: ALREADY_EXISTS: {message_of(e)}")
        if status == "ABORTED" or (
            status == "FAILED_PRECONDITION" and self._etag_moved(service.name, service.etag)
        ):
            # AIP-154 answers a stale etag with ABORTED; FAILED_PRECONDITION with the etag
            # moved on is the same race told the older way. Re-read and try again.
            return TransientError(f"{action}: conflicting writer: {message_of(e)}")
        return translate(e, field, action)

    def _etag_moved(self, name: str, etag: str) -> bool:
        try:
            return bool(etag) and self._get_service(name).etag != etag
        except TransientError:
            return True  # cannot tell: a retry is the safe side
        except PermanentError:
            return False

    def _target(self, revision: str, percent: int, tag: str | None) -> Any:
        run_v2 = self._run()[0]
        return run_v2.TrafficTarget(
            type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
            revision=revision,
            percent=percent,
            tag=tag or "",
        )

    def _accept_existing(self, service: str, revision: Any, spec: RevisionSpec) -> str:
        containers = list(revision.containers)
        image = containers[0].image if containers else ""
        env = {e.name: e.value for e in containers[0].env} if containers else {}
        if image != spec.image or env != dict(spec.env):
            raise PermanentError(
                "revision",
                f"revision {spec.name} already exists with a different image or env "
                f"(has {one_line(image, 200)}, wanted {spec.image})",
            )
        state = _ready_state(revision)
        if state == _READY_FAILED and not revision.reconciling:
            raise PermanentError("revision", _failed_revision_reason(service, spec.name, revision))
        if state != _READY_SUCCEEDED:
            raise TransientError(f"revision {spec.name} exists but is not ready yet")
        return spec.name


def _ready_condition(revision: Any) -> Any | None:
    ready = [c for c in revision.conditions if c.type_ == "Ready"]
    return ready[0] if ready else None


def _ready_state(revision: Any) -> int:
    condition = _ready_condition(revision)
    return 0 if condition is None else int(condition.state)


def _ready_message(revision: Any) -> str:
    condition = _ready_condition(revision)
    return "" if condition is None else str(condition.message)


def _failed_revision_reason(service: str, revision: str, found: Any) -> str:
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
