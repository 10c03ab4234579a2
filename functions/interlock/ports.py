"""Ports layer: what the handlers need from the outside world, as Protocols over core types.

Adapters implement these against real services (Airflow, Vertex AI, Cloud Run, Pub/Sub,
Firestore/SQLite); `tests/fakes` implements them in memory. The contract tests in
`tests/contract/` run one suite per port against both, so the fakes stay honest.
Every adapter raises only `TransientError` (retry) or `PermanentError` (dead-letter).
`Ports` is the bag of adapters a runner uses, each built on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Protocol

from interlock.core.batch import BatchWindow, Member
from interlock.core.binding import Message
from interlock.core.effects import TrafficSplit
from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import Outcome
from interlock.core.observe import RevisionWindow
from interlock.core.pending import Pending
from interlock.core.runs import FailedTask, WatchedRun
from interlock.core.state import ModelState

__all__ = ["FailedTask", "Message"]  # core values the ports speak


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str
    conf: Mapping[str, object]
    created: bool  # False when the run already existed (409) with the same conf
    # Read back by `get_run` only (None/empty from `trigger`):
    end_date: datetime | None = None
    note: str | None = None
    failed_tasks: tuple[FailedTask, ...] = ()


class DagTrigger(Protocol):
    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        """Create the run, or return the existing one when `run_id` exists with the same conf.

        An existing run with a different conf is a PermanentError (two events claim one key).
        `event_id` is provenance (which delivery started the run), not identity: ignored there.
        """
        ...

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        """The run as Airflow has it now (`state`: queued, running, success, failed; `created`
        is False); a failed run names its failed tasks. A run that does not exist is a
        PermanentError naming `run_id`."""
        ...


FINISHED_RUN_STATES = frozenset({"success", "failed"})  # Airflow's terminal DagRun states


PROVENANCE_KEYS = frozenset({"event_id"})


def same_run_conf(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    """Whether two confs ask for the same run: equal after a JSON round trip, provenance aside."""
    import json

    def norm(conf: Mapping[str, object]) -> object:
        return json.loads(json.dumps({k: v for k, v in conf.items() if k not in PROVENANCE_KEYS}))

    return norm(a) == norm(b)


@dataclass(frozen=True)
class ModelVersion:
    model: str  # projects/P/locations/L/models/M
    version: str
    artifact_uri: str
    aliases: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""  # versionDescription (the DAG's lineage record, `interlock lineage`)
    created: datetime | None = None  # versionCreateTime


class ModelRegistry(Protocol):
    def get_version(self, model: str, version: str) -> ModelVersion: ...

    def list_versions(self, model: str) -> list[ModelVersion]: ...

    def merge_aliases(
        self, model: str, version: str, add: Sequence[str], remove: Sequence[str]
    ) -> ModelVersion:
        """Vertex semantics: an added alias moves off whichever version held it."""
        ...


@dataclass(frozen=True)
class RevisionSpec:
    name: str  # deterministic: derived from (service, model version)
    image: str
    env: Mapping[str, str]
    port: int = 8080
    labels: Mapping[str, str] = field(default_factory=dict)


class TrafficRouter(Protocol):
    def ensure_revision(self, service: str, spec: RevisionSpec) -> str:
        """Make `spec.name` exist and be ready, holding no new traffic. Idempotent."""
        ...

    def set_traffic(self, service: str, splits: Sequence[TrafficSplit]) -> tuple[TrafficSplit, ...]:
        """Replace the traffic block, wait for the operation, return the traffic as verified."""
        ...

    def get_traffic(self, service: str) -> tuple[TrafficSplit, ...]: ...

    def tag_revision(self, service: str, revision: str, tag: str) -> TagUrl:
        """Give the existing `revision` the traffic tag `tag` (moved off any other revision) at
        0 %, every other target's percent and tag kept; its URL as Cloud Run serves it. Idempotent."""
        ...


@dataclass(frozen=True)
class TagUrl:
    url: str  # trafficStatuses[].uri of the tag, e.g. https://smoke---churn-abc123-uc.a.run.app
    audience: str  # the service's own uri: what a Google ID token for it names


@dataclass(frozen=True)
class ProbeAnswer:
    status: int | None  # None: no answer within the timeout
    body: str  # at most a few KiB of what came back, as text (untrusted)


class Probe(Protocol):
    """One HTTP request to a serving revision (the pre-traffic smoke check)."""

    def post(
        self, url: str, body: Mapping[str, object], audience: str | None, timeout_s: float
    ) -> ProbeAnswer:
        """POST `body` as JSON; with `audience`, a Google ID token for it. Whatever status comes
        back is answered; a URL that cannot be reached is a TransientError."""
        ...


class EventBus(Protocol):
    def publish(self, topic: str, message: Message) -> str:
        """Publish and wait for the server's message id."""
        ...


class RevisionMetrics(Protocol):
    """Cloud Run's request metrics per revision (Cloud Monitoring), for the observer."""

    def windows(
        self,
        service: str,
        revisions: Sequence[str],
        start: datetime,
        end: datetime,
        period_s: int,
    ) -> list[RevisionWindow]:
        """What each of `revisions` of `service` (a full name) served, in the windows of
        `period_s` that tile [start, end) back from `end`. A window without traffic is absent."""
        ...


def _no_probe() -> Probe:
    from interlock.core.errors import PermanentError

    raise PermanentError("probe", "this runner has no probe adapter (canary.smoke needs one)")


def _no_metrics() -> RevisionMetrics:
    from interlock.core.errors import PermanentError

    raise PermanentError("metrics", "this runner has no metrics adapter")


class Conflict(TransientError):
    """A compare-and-set lost to a concurrent writer: transient, the delivery is retried."""


@dataclass(frozen=True)
class Snapshot:
    state: ModelState
    version: int  # the stored state's version counter, bumped by each commit; 0: no state yet


class Ledger(Protocol):
    def get(self, key: str) -> Outcome | None:
        """The final outcome recorded under an idempotency key, if any."""
        ...

    def record(self, key: str, outcome: Outcome) -> Outcome:
        """Record once: returns `outcome` itself when this call recorded it, else the outcome
        already stored under `key` (so a caller can tell whether its record won)."""
        ...

    def load(self, model: str) -> Snapshot: ...

    def commit(
        self, model: str, state: ModelState, version: int, key: str, outcome: Outcome
    ) -> None:
        """Atomically: write `state` if the stored version is still `version`; record `outcome`.

        Raises `Conflict` if another writer committed first.
        """
        ...

    def acquire(self, subject: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take the per-subject lease unless another holder has an unexpired one."""
        ...

    def release(self, subject: str, holder: str) -> None: ...

    def outcomes(self, subject: str | None = None, limit: int = 50) -> list[Outcome]:
        """Newest first: the decision trail for `interlock status`."""
        ...

    def park(self, pending: Pending) -> None:
        """Keep (or replace) the pending record of `pending.key`."""
        ...

    def pending(self, key: str) -> Pending | None:
        """The pending record under an idempotency key, if the event is parked."""
        ...

    def parked(self, limit: int = 50, due: datetime | None = None) -> list[Pending]:
        """Parked events, soonest next attempt first; with `due`, only those due by then."""
        ...

    def unpark(self, key: str) -> None:
        """Forget the pending record (it reached a final outcome); absent is fine."""
        ...

    def watch(self, run: WatchedRun) -> None:
        """Keep the record of a run just triggered, unless one is kept under `run.key` already
        (a redelivery's trigger finds the run, and must not reopen a finished watch)."""
        ...

    def update_run(self, run: WatchedRun) -> None:
        """Replace the record under `run.key` (checked again, or final)."""
        ...

    def watched_run(self, key: str) -> WatchedRun | None: ...

    def watched(self, due: datetime, limit: int = 50) -> list[WatchedRun]:
        """Unfinished runs due for a check by `due`, soonest first."""
        ...

    def runs(self, limit: int = 50) -> list[WatchedRun]:
        """Runs, final or not, newest trigger first: the pipelines view of `interlock status`."""
        ...

    # Batch windows (`core.batch`): membership create-if-absent, state under compare-and-set.
    def join(
        self, pipeline: str, partition: str, member: Member | None, now: datetime
    ) -> tuple[BatchWindow, bool]:
        """Add `member` to the open window of (pipeline, partition), opening the next epoch when
        the latest is closing or triggered; `member` None marks the sentinel. Returns the window
        the member is in and whether this call added it (False: it was already a member, of
        whichever epoch — never of two)."""
        ...

    def window(self, pipeline: str, partition: str, epoch: int) -> BatchWindow | None: ...

    def windows(
        self, states: Sequence[str], pipeline: str | None = None, limit: int = 100
    ) -> list[BatchWindow]:
        """Windows in `states`, newest opened first."""
        ...

    def members(self, pipeline: str, partition: str, epoch: int) -> list[Member]: ...

    def advance(
        self, window: BatchWindow, version: int, found: Sequence[Member] = ()
    ) -> BatchWindow:
        """Store `window` if the stored one is still at `version` (else `Conflict`); add each of
        `found` not yet a member of any epoch to it, and set its count to its members'."""
        ...


@dataclass(frozen=True)
class StoredGeneration:
    """One exact generation of an object, as the store has it now."""

    size: int
    md5: str | None  # base64, as GCS reports md5Hash (None for composite objects)
    time_created: datetime | None


class ObjectStore(Protocol):
    """Cloud Storage, as batch windows and lineage need it: strongly consistent listing,
    create-only writes, and whether a pinned generation is still there."""

    def list(self, bucket: str, prefix: str) -> list[Member]:
        """The live objects under `prefix` (generation, size, md5, time created)."""
        ...

    def create(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        """Write `name` only if it does not exist (`if_generation_match=0`); False if it did."""
        ...

    def read(self, bucket: str, name: str) -> bytes | None:
        """The live object's bytes; None when there is no such object."""
        ...

    def generation(self, bucket: str, name: str, generation: int) -> StoredGeneration | None:
        """That exact generation (live or, with Object Versioning, noncurrent); None when it no
        longer exists — without versioning an overwrite or delete removes it."""
        ...


class Ports:
    """The adapters a runner may use; each is built on first use, so a function loads only its own."""

    def __init__(
        self,
        ledger: Callable[[], Ledger],
        bus: Callable[[], EventBus],
        dags: Callable[[], DagTrigger],
        registry: Callable[[], ModelRegistry],
        router: Callable[[], TrafficRouter],
        metrics: Callable[[], RevisionMetrics] = _no_metrics,
        probe: Callable[[], Probe] = _no_probe,
        storage: Callable[[], ObjectStore] | None = None,
    ) -> None:
        self._ledger, self._bus, self._dags = ledger, bus, dags
        self._registry, self._router = registry, router
        self._metrics, self._storage, self._probe = metrics, storage, probe

    @cached_property
    def ledger(self) -> Ledger:
        return self._ledger()

    @cached_property
    def bus(self) -> EventBus:
        return self._bus()

    @cached_property
    def dags(self) -> DagTrigger:
        return self._dags()

    @cached_property
    def registry(self) -> ModelRegistry:
        return self._registry()

    @cached_property
    def router(self) -> TrafficRouter:
        return self._router()

    @cached_property
    def metrics(self) -> RevisionMetrics:
        return self._metrics()

    @cached_property
    def probe(self) -> Probe:
        return self._probe()

    @cached_property
    def storage(self) -> ObjectStore:
        if self._storage is None:
            raise PermanentError(
                "storage", "no object store configured (batched pipelines need one)"
            )
        return self._storage()
