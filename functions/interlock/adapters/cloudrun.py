"""Adapters layer: Cloud Run Admin v2 as a `TrafficRouter` — revisions and the traffic block.

Every write is a read-modify-write of the whole Service carrying its etag, so a racing writer
makes ours fail (ABORTED → transient) instead of silently undoing theirs; every write waits for
its operation and then re-reads what is actually served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from interlock.adapters.google_errors import client_failures, translate
from interlock.core.effects import TrafficSplit
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import RevisionSpec

SERVICE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/services/[^/]+")
_READY_SUCCEEDED = 4  # google.cloud.run.v2.Condition.State.CONDITION_SUCCEEDED


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
            return self._accept_existing(existing, spec)
        current = self._get_service(name)
        statuses = list(current.traffic_statuses)
        if not statuses:
            raise TransientError(f"service {name} serves no traffic yet (still reconciling?)")
        run_v2 = self._run()[0]
        template = current.template
        template.revision = spec.name
        template.labels.clear()
        template.labels.update(dict(spec.labels))
        container = template.containers[0] if template.containers else run_v2.Container()
        container.image = spec.image
        container.env = [run_v2.EnvVar(name=k, value=v) for k, v in sorted(spec.env.items())]
        container.ports = [run_v2.ContainerPort(name="http1", container_port=spec.port)]
        template.containers = [container, *list(template.containers)[1:]]
        # Without an explicit block Cloud Run routes 100 % to LATEST, i.e. to the new revision:
        # pin what is served now, by concrete revision name, so the new one gets nothing.
        current.traffic = [self._target(s.revision, s.percent, s.tag or None) for s in statuses]
        self._update(current, f"create revision {spec.name} of {name}", field="revision")
        created = self._get_revision(name, spec.name)
        if created is None:
            raise TransientError(f"revision {spec.name} of {name} missing after its operation")
        return self._accept_existing(created, spec)

    def set_traffic(self, service: str, splits: Sequence[TrafficSplit]) -> tuple[TrafficSplit, ...]:
        name = self._service_name(service)
        current = self._get_service(name)
        current.traffic = [self._target(s.revision, s.percent, s.tag) for s in splits]
        self._update(current, f"set traffic of {name}", field="splits")
        served = self.get_traffic(name)
        if _canonical(served) != _canonical(splits):
            raise TransientError(
                f"traffic of {name} not as requested after the update: served "
                f"{[s.describe() for s in served]}, wanted {[s.describe() for s in splits]}"
            )
        return served

    def get_traffic(self, service: str) -> tuple[TrafficSplit, ...]:
        current = self._get_service(self._service_name(service))
        return tuple(
            TrafficSplit(revision=s.revision, percent=s.percent, tag=s.tag or None)
            for s in current.traffic_statuses
        )

    # --- calls ----------------------------------------------------------------------------------

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

    def _update(self, service: Any, action: str, field: str) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core.future.polling import DEFAULT_POLLING

        try:
            operation = self._run()[1].update_service(
                service=service, timeout=self.timeout_s, retry=None
            )
        except gexc.Conflict as e:
            if "different configuration" in str(e):
                # A revision name is the key of one (service, model version): a different
                # template under it is a bug or a clash, never fixed by retrying.
                raise PermanentError(field, f"{action}: {e.message}") from e
            raise TransientError(f"{action}: conflicting writer: {e.message}") from e
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
            raise TransientError(f"{action}: operation failed: {getattr(e, 'message', e)}") from e

    def _target(self, revision: str, percent: int, tag: str | None) -> Any:
        run_v2 = self._run()[0]
        return run_v2.TrafficTarget(
            type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
            revision=revision,
            percent=percent,
            tag=tag or "",
        )

    def _accept_existing(self, revision: Any, spec: RevisionSpec) -> str:
        containers = list(revision.containers)
        image = containers[0].image if containers else ""
        env = {e.name: e.value for e in containers[0].env} if containers else {}
        if image != spec.image or env != dict(spec.env):
            raise PermanentError(
                "revision",
                f"revision {spec.name} already exists with a different image or env "
                f"(has {image}, wanted {spec.image})",
            )
        ready = [c for c in revision.conditions if c.type_ == "Ready"]
        if not ready or int(ready[0].state) != _READY_SUCCEEDED:
            raise TransientError(f"revision {spec.name} exists but is not ready yet")
        return spec.name


def _canonical(splits: Sequence[TrafficSplit]) -> list[tuple[str, int, str]]:
    return sorted((s.revision, s.percent, s.tag or "") for s in splits)
