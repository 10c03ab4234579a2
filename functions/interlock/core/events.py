"""Core layer: the typed, frozen payload of every event interlock receives or emits.

Facts are past tense (`model.evaluated`), requests imperative (`model.promote.requested`).
The CloudEvents type of each inbound payload is in `core.kinds`; `events/schemas/` is generated from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from interlock.core.codec import spec
from interlock.core.values import fast_init

PREFIX = "dev.interlock."
NAME = r"^[a-z][a-z0-9-]{0,62}$"
VERSION_ID = r"^[0-9]{1,18}$"
REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
GCS_URI = r"^gs://[a-z0-9][a-z0-9._\-]{1,220}/[^#]+#[0-9]{1,20}$"
REVISION = r"^[a-z][a-z0-9-]{0,62}$"


def request_id_spec() -> Any:
    """Every request's id: a re-publish with it is recognised (one field spec, eight requests)."""
    return spec(
        pattern=REQUEST_ID, description="caller-chosen id; a re-publish with it is recognised"
    )


def requested_by_spec() -> Any:
    return spec(None, max_length=256, description="caller identity, when known (recorded)")


def reason_spec() -> Any:
    return spec(None, max_length=1024, description="free text, recorded with the decision")


@fast_init
@dataclass(frozen=True)
class DataLanded:
    """A Cloud Storage object was finalized (any inbound shape, normalized)."""

    bucket: str = spec(
        max_length=222,
        pattern=r"^[a-z0-9][a-z0-9._\-]{1,220}$",
        description="Cloud Storage bucket; must be configured in the policy",
    )
    name: str = spec(max_length=1024, description="object name (GCS limit: 1024 bytes)")
    generation: int = spec(minimum=1, description="pins the exact object version")
    size: int | None = spec(
        None, minimum=0, description="object size in bytes (absent for payloadFormat NONE)"
    )
    md5_hash: str | None = spec(
        None, max_length=64, description="base64 MD5 of the content, as GCS reports it"
    )
    content_type: str | None = spec(None, max_length=256, description="MIME type of the object")
    time_created: datetime | None = spec(None, description="when GCS created this generation")

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}#{self.generation}"


@fast_init
@dataclass(frozen=True)
class ModelEvaluated:
    """A training pipeline evaluated a registered model version."""

    model: str = spec(pattern=NAME, description="model name in the policy")
    version: str = spec(pattern=VERSION_ID, description="Vertex AI Model Registry version id")
    dataset_id: str = spec(max_length=256, description="id of the held-out evaluation set")
    sample_count: int = spec(
        minimum=0, description="rows in the evaluation set (gate: min_samples)"
    )
    metrics: Mapping[str, float] = spec(finite=False, description="metric name -> value")
    evaluated_at: datetime = spec(description="when the evaluation finished (max age applies)")
    run_id: str = spec(max_length=256, description="pipeline run that produced the version")
    input_uri: str | None = spec(None, pattern=GCS_URI, description="pinned training input")
    artifact_uri: str | None = spec(
        None, max_length=1024, description="where the model artifact was written"
    )


@fast_init
@dataclass(frozen=True)
class ModelObserved:
    """Live metrics of one serving revision over one window."""

    model: str = spec(pattern=NAME, description="model name in the policy")
    revision: str = spec(pattern=REVISION, description="Cloud Run revision name")
    version: str = spec(pattern=VERSION_ID, description="model version the revision serves")
    window_start: datetime = spec(description="start of the observation window")
    window_end: datetime = spec(description="end of the window; must advance per revision")
    sample_count: int = spec(minimum=0, description="requests scored in the window (min_samples)")
    metrics: Mapping[str, float] = spec(
        finite=False, description="metric name -> value over the window"
    )


@fast_init
@dataclass(frozen=True)
class TriggerRequested:
    """A person or tool asks to run a pipeline on one pinned object."""

    request_id: str = request_id_spec()
    pipeline: str = spec(pattern=NAME, description="pipeline name in the policy")
    object_uri: str = spec(pattern=GCS_URI, description="gs://bucket/name#generation")
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class CloseRequested:
    """A person or tool asks to close a batched pipeline's open window(s) now."""

    request_id: str = request_id_spec()
    pipeline: str = spec(pattern=NAME, description="batched pipeline name in the policy")
    partition: str | None = spec(
        None, max_length=256, description="the window's partition; none: every open window"
    )
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class PromoteRequested:
    """A person asks to promote a model version (skips the gate, not the ordering guard)."""

    request_id: str = request_id_spec()
    model: str = spec(pattern=NAME, description="model name in the policy")
    version: str = spec(pattern=VERSION_ID, description="Vertex AI Model Registry version id")
    force: bool = spec(False, description="also promote over a newer champion")
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class RollbackRequested:
    """A person asks to return a model's traffic and alias to its previous good version."""

    request_id: str = request_id_spec()
    model: str = spec(pattern=NAME, description="model name in the policy")
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class ApproveRequested:
    """A person approves a canary waiting at an `approve` step to take its next step."""

    request_id: str = request_id_spec()
    model: str = spec(pattern=NAME, description="model name in the policy")
    version: str = spec(pattern=VERSION_ID, description="the candidate version approved")
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class PauseRequested:
    """A person holds a model's automatic promotions and advances (rollbacks: the policy's)."""

    request_id: str = request_id_spec()
    model: str = spec(pattern=NAME, description="model name in the policy")
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class ResumeRequested:
    """A person ends a pause; a promotion the pause held is re-decided at once."""

    request_id: str = request_id_spec()
    model: str = spec(pattern=NAME, description="model name in the policy")
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class ReplayRequested:
    """A person re-runs a dead-lettered event on purpose: decided anew under this request's id,
    its outcome naming the original (never a silent duplicate of the first record)."""

    request_id: str = request_id_spec()
    replay_of: str = spec(max_length=256, description="the dead-lettered event's CloudEvents id")
    event: str = spec(
        max_length=65536,
        description="the original event as a structured CloudEvent (JSON text), as dead-lettered",
    )
    model: str | None = spec(
        None, pattern=NAME, description="the model the event is about (null: a stateless event)"
    )
    requested_by: str | None = requested_by_spec()
    reason: str | None = reason_spec()


@fast_init
@dataclass(frozen=True)
class Tick:
    """The clock: Cloud Scheduler publishes one a minute; the tick re-drives pending events.

    Recorded nowhere; delivered twice, late or concurrently it changes nothing twice.
    """

    schedule: str | None = spec(
        None, max_length=128, description="which schedule sent it (informational)"
    )


@fast_init
@dataclass(frozen=True)
class AlertIncident:
    """A Cloud Monitoring incident (notification schema 1.2) about a model's serving revision.

    Normalized from Google's JSON by `core.alerts`; routed by the alerting policy's user label
    `interlock-model`. Google's notification has no CloudEvents type: the kind names this shape.
    """

    model: str = spec(pattern=NAME, description="policy_user_labels['interlock-model']")
    incident_id: str = spec(max_length=256, description="Monitoring's incident id")
    state: Literal["open", "closed"] = spec(description="the incident's state, lower case")
    revision: str | None = spec(
        None, pattern=REVISION, description="resource.labels.revision_name, when not reduced away"
    )
    started_at: datetime | None = spec(None, description="when the incident opened")
    ended_at: datetime | None = spec(None, description="when it closed (null while open)")
    policy_name: str | None = spec(None, max_length=512, description="alerting policy display name")
    condition_name: str | None = spec(None, max_length=512, description="condition display name")
    summary: str | None = spec(None, max_length=2048, description="Monitoring's summary text")
    url: str | None = spec(None, max_length=2048, description="console link to the incident")
    observed_value: float | None = spec(None, description="the value that crossed the threshold")
    threshold_value: float | None = spec(None, description="the condition's threshold")


OutcomeKind = Literal[
    "triggered",
    "batched",
    "promoted",
    "advanced",
    "rejected",
    "rolled_back",
    "held",
    "inconclusive",
    "needs_human",
    "stale",
    "duplicate",
    "ignored",
    "expired",
    "dead_lettered",
    "pending",
    "run_succeeded",
    "run_failed",
    "awaiting_approval",
    "paused",
    "resumed",
]


@fast_init
@dataclass(frozen=True)
class Share:
    """One revision's share of a model's traffic once a decision was applied."""

    version: str = spec(pattern=VERSION_ID, description="model version the revision serves")
    revision: str = spec(pattern=REVISION, description="Cloud Run revision name")
    percent: int = spec(minimum=0, maximum=100, description="share of the service's traffic")
    tag: str | None = spec(None, max_length=64, description="traffic tag: champion, candidate, …")


@fast_init
@dataclass(frozen=True)
class Trained:
    """The evaluation a decision was made on, and what produced the version (its lineage)."""

    version: str = spec(pattern=VERSION_ID, description="Vertex AI Model Registry version id")
    run_id: str = spec(max_length=256, description="pipeline run that produced the version")
    dataset_id: str = spec(max_length=256, description="id of the held-out evaluation set")
    sample_count: int = spec(minimum=0, description="rows in the evaluation set")
    metrics: Mapping[str, float] = spec(finite=False, description="metric name -> value")
    evaluated_at: datetime = spec(description="when the evaluation finished")
    input_uri: str | None = spec(None, pattern=GCS_URI, description="pinned training input")
    artifact_uri: str | None = spec(None, max_length=1024, description="the model artifact")


@fast_init
@dataclass(frozen=True)
class Outcome:
    """What interlock decided for one event, and what it changed."""

    decision_id: str = spec(max_length=128, description="id of the decision in the ledger")
    kind: OutcomeKind = spec(description="what was decided; selects the CloudEvents type")
    subject: str = spec(max_length=256, description="model or pipeline the decision is about")
    event_id: str = spec(max_length=256, description="id of the event decided on")
    event_type: str = spec(max_length=256, description="CloudEvents type of the event decided on")
    reasons: tuple[str, ...] = spec(
        max_length=2048, description="every reason, e.g. each failing gate rule"
    )
    effects: tuple[str, ...] = spec(
        max_length=2048, description="what was changed (traffic, alias, DAG run)"
    )
    decided_at: datetime = spec(description="when the decision was made")
    manual: bool = spec(False, description="the event was a manual request")
    request_id: str | None = spec(None, max_length=128, description="the manual request's id")
    requested_by: str | None = spec(None, max_length=256, description="the manual request's caller")
    # Lineage (`interlock lineage`, `interlock history`): what the decision was made on, and the
    # model's whole traffic block once its effects were applied (empty: traffic not moved).
    trained: Trained | None = spec(
        None, description="the evaluation decided on, with the run and input behind the version"
    )
    traffic: tuple[Share, ...] = spec(
        (), description="every revision's share once the decision applied; empty: unchanged"
    )


Payload = (
    DataLanded
    | ModelEvaluated
    | ModelObserved
    | TriggerRequested
    | PromoteRequested
    | RollbackRequested
    | ApproveRequested
    | PauseRequested
    | ResumeRequested
    | ReplayRequested
    | CloseRequested
    | Tick
    | AlertIncident
    | Outcome
)

OUTCOME_TYPES: dict[str, str] = {
    "triggered": PREFIX + "pipeline.triggered.v1",
    "promoted": PREFIX + "model.promoted.v1",
    "advanced": PREFIX + "model.promoted.v1",
    "rejected": PREFIX + "model.rejected.v1",
    "rolled_back": PREFIX + "model.rolled_back.v1",
    "dead_lettered": PREFIX + "event.dead_lettered.v1",
    "pending": PREFIX + "event.pending.v1",
    "run_succeeded": PREFIX + "pipeline.run_succeeded.v1",
    "run_failed": PREFIX + "pipeline.run_failed.v1",
}
DECISION_RECORDED = PREFIX + "decision.recorded.v1"


def outcome_type(kind: str) -> str:
    return OUTCOME_TYPES.get(kind, DECISION_RECORDED)


# A Cloud Monitoring notification has no CloudEvents type; this names the normalized incident.
MONITORING_INCIDENT = PREFIX + "monitoring.incident.v1"
# Foreign inbound types (Google's), normalized into our payloads by `core.inbound`.
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
GCS_FINALIZED = "google.cloud.storage.object.v1.finalized"
