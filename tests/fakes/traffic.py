"""Fakes: an in-memory `TrafficRouter` with Cloud Run's rules; `tests/contract` keeps it honest.

Like Cloud Run: revision names start with the service name and '-'; a name reused with another
image or env is refused; the traffic block must sum to 100, name existing revisions and use each
tag once, and a tag plus the service id is at most 46 characters; a revision that failed to
become ready stays, failed, under its name; every write changes the service's etag, and a write
based on a stale read loses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from interlock.core.effects import TrafficSplit
from interlock.core.errors import InterlockError, PermanentError, TransientError
from interlock.ports import RevisionSpec, TagUrl

DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_TAG_AND_SERVICE = 46


@dataclass
class FakeService:
    revisions: dict[str, RevisionSpec] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # revision -> why it is not ready
    traffic: tuple[TrafficSplit, ...] = ()
    etag: int = 1
    revisions_created: int = 0
    traffic_updates: int = 0


class FakeTrafficRouter:
    def __init__(self) -> None:
        self.services: dict[str, FakeService] = {}
        self._failures: list[InterlockError] = []
        self._failing_operations: list[tuple[str, bool]] = []
        self._before_next_write: Callable[[], None] | None = None

    # --- seeding and fault helpers for tests -----------------------------------------------------

    def seed_service(self, service: str, first: RevisionSpec) -> None:
        """A deployed service whose only revision `first` serves 100 %."""
        self._check_revision_name(service, first.name)
        self.services[service] = FakeService(
            revisions={first.name: first}, traffic=(TrafficSplit(first.name, 100),)
        )

    def fail_next(self, error: InterlockError, times: int = 1) -> None:
        """The next `times` calls raise `error` before doing anything."""
        self._failures.extend([error] * times)

    def fail_next_operation(self, message: str, revision_fails: bool = False) -> None:
        """The next write is accepted but its rollout fails: nothing served changes. With
        `revision_fails`, the revision that write creates stays, not ready, as on Cloud Run."""
        self._failing_operations.append((message, revision_fails))

    def delete_revision(self, service: str, revision: str) -> None:
        """What an operator's `gcloud run revisions delete` does (not a port method)."""
        state = self.services[service]
        assert all(s.revision != revision for s in state.traffic), "serving revisions stay"
        del state.revisions[revision]
        state.failed.pop(revision, None)

    def race_next_write(self, concurrent: Callable[[], None]) -> None:
        """Run `concurrent` (another writer) between the next write's read and its write."""
        self._before_next_write = concurrent

    # --- the port -------------------------------------------------------------------------------

    def ensure_revision(self, service: str, spec: RevisionSpec) -> str:
        state = self._service(service)
        existing = state.revisions.get(spec.name)
        if existing is not None:
            if existing.image != spec.image or dict(existing.env) != dict(spec.env):
                raise PermanentError(
                    "revision",
                    f"revision {spec.name} already exists with a different image or env "
                    f"(has {existing.image}, wanted {spec.image})",
                )
            if spec.name in state.failed:
                raise _failed(service, spec.name, state.failed[spec.name])
            return spec.name
        self._check_revision_name(service, spec.name)
        self._write(service, state.etag, lambda s: _add_revision(s, spec), spec)
        return spec.name

    def set_traffic(self, service: str, splits: Sequence[TrafficSplit]) -> tuple[TrafficSplit, ...]:
        state = self._service(service)
        _check_traffic(state, service, splits)
        self._write(service, state.etag, lambda s: _route(s, tuple(splits)))
        return self.get_traffic(service)

    def get_traffic(self, service: str) -> tuple[TrafficSplit, ...]:
        return self._service(service).traffic

    def tag_revision(self, service: str, revision: str, tag: str) -> TagUrl:
        state = self._service(service)
        if revision not in state.revisions:
            raise PermanentError("revision", f"revision {revision} of {service} does not exist")
        if not any(s.revision == revision and s.tag == tag for s in state.traffic):
            kept = [s for s in state.traffic if s.tag != tag or s.percent]
            block = (
                *(
                    TrafficSplit(s.revision, s.percent, None if s.tag == tag else s.tag)
                    for s in kept
                ),
                TrafficSplit(revision, 0, tag),
            )
            _check_traffic(state, service, block)
            self._write(service, state.etag, lambda s: _route(s, block))
        return TagUrl(url=service_url(service, tag), audience=service_url(service))

    # --- internals ------------------------------------------------------------------------------

    def _service(self, service: str) -> FakeService:
        if self._failures:
            raise self._failures.pop(0)
        if service not in self.services:
            raise PermanentError("service", f"service {service}: NOT_FOUND")
        return self.services[service]

    def _write(
        self,
        service: str,
        read_etag: int,
        change: Callable[[FakeService], None],
        creating: RevisionSpec | None = None,
    ) -> None:
        if self._before_next_write is not None:
            concurrent, self._before_next_write = self._before_next_write, None
            concurrent()
        state = self.services[service]
        if state.etag != read_etag:
            raise TransientError(f"write to {service}: ABORTED: etag mismatch (a racing writer)")
        state.etag += 1
        if self._failing_operations:
            message, revision_fails = self._failing_operations.pop(0)
            if creating is not None and revision_fails:
                _add_revision(state, creating)
                state.failed[creating.name] = message
                raise _failed(service, creating.name, message)
            raise TransientError(f"write to {service}: operation failed: {message}")
        change(state)

    @staticmethod
    def _check_revision_name(service: str, name: str) -> None:
        prefix = service.rsplit("/", 1)[-1] + "-"
        if not name.startswith(prefix) or not DNS_LABEL.fullmatch(name):
            raise PermanentError(
                "revision", f"INVALID_ARGUMENT: {name!r} must be a DNS label starting {prefix!r}"
            )


def service_url(service: str, tag: str | None = None) -> str:
    """Cloud Run's shape: https://[TAG---]SERVICE-PROJECTHASH-REGIONCODE.a.run.app"""
    return (
        f"https://{tag + '---' if tag else ''}{service.rsplit('/', 1)[-1]}-x7kq2mda4a-uc.a.run.app"
    )


def _failed(service: str, revision: str, why: str) -> PermanentError:
    return PermanentError(
        "revision",
        f"revision {revision} of {service} failed to become ready ({why}); "
        f"delete it and replay, or register the fixed model as a new version",
    )


def _add_revision(state: FakeService, spec: RevisionSpec) -> None:
    state.revisions[spec.name] = spec
    state.revisions_created += 1


def _route(state: FakeService, splits: tuple[TrafficSplit, ...]) -> None:
    if splits != state.traffic:
        state.traffic_updates += 1
    state.traffic = splits


def _check_traffic(state: FakeService, service: str, splits: Sequence[TrafficSplit]) -> None:
    tags: set[str] = set()
    service_id = service.rsplit("/", 1)[-1]
    for i, split in enumerate(splits):
        if not 0 <= split.percent <= 100:
            raise PermanentError(f"splits[{i}].percent", "INVALID_ARGUMENT: must be 0..100")
        if split.revision not in state.revisions:
            raise PermanentError(
                f"splits[{i}].revision", f"INVALID_ARGUMENT: revision {split.revision} not found"
            )
        if split.percent and split.revision in state.failed:
            raise PermanentError(
                f"splits[{i}].revision", f"revision {split.revision} failed to become ready"
            )
        if split.tag and len(split.tag) + len(service_id) > MAX_TAG_AND_SERVICE:
            raise PermanentError(
                f"splits[{i}].tag",
                f"INVALID_ARGUMENT: traffic tag {split.tag!r} and service name {service_id!r} "
                f"together exceed {MAX_TAG_AND_SERVICE} characters",
            )
        if split.tag:
            if not DNS_LABEL.fullmatch(split.tag) or split.tag in tags:
                raise PermanentError(
                    f"splits[{i}].tag", f"INVALID_ARGUMENT: tag {split.tag!r} invalid or reused"
                )
            tags.add(split.tag)
    total = sum(s.percent for s in splits)
    if total != 100:
        raise PermanentError("splits", f"INVALID_ARGUMENT: percents must sum to 100, got {total}")
