"""Core layer: one row per event kind — everything the rest of interlock needs to know about it.

Adding an event kind means a payload class (`events.py`), a row here, and its decision
(`dispatch.py` + the module that decides). Keys, expiry, the model whose state it touches, the
function that accepts it, its topic, its schema and its catalogue title all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.core.errors import PermanentError
from interlock.core.events import (
    GCS_FINALIZED,
    MONITORING_INCIDENT,
    PREFIX,
    AlertIncident,
    ApproveRequested,
    CloseRequested,
    DataLanded,
    ModelEvaluated,
    ModelObserved,
    PauseRequested,
    PromoteRequested,
    ReplayRequested,
    ResumeRequested,
    RollbackRequested,
    Tick,
    TriggerRequested,
)


@dataclass(frozen=True)
class Kind:
    payload: type
    ce_type: str
    title: str  # the catalogue's heading for its schema
    key: Callable[[Any], str]  # idempotency key, from the payload: a re-publish is recognised
    function: str  # the entry point that accepts it (its topic follows: see topics.py)
    age: str | None  # which `max_event_age` applies; None: never too old to act on
    model_field: str | None = None  # the model whose state the decision reads and writes
    # The fact's own time (wins over the CloudEvent's `time`) and a fallback when there is none.
    own_time: Callable[[Any], datetime | None] | None = None
    fallback_time: Callable[[Any], datetime | None] | None = None
    request: bool = False  # a manual request: carries request_id and requested_by
    own: bool = True  # one of our CloudEvents types (False: Google's, normalized by inbound)


def _request_key(p: Any) -> str:
    return f"request:{p.request_id}"


KINDS: tuple[Kind, ...] = (
    Kind(
        DataLanded, GCS_FINALIZED,
        "data.landed: a Cloud Storage object was finalized (normalized from every inbound shape)",
        key=lambda p: f"gcs:{p.bucket}/{p.name}#{p.generation}",
        function="on_data_landed", age="data_landed",
        fallback_time=lambda p: p.time_created, own=False,
    ),
    Kind(
        ModelEvaluated, PREFIX + "model.evaluated.v1",
        "model.evaluated: a pipeline evaluated a model version",
        key=lambda p: f"evaluated:{p.model}:{p.version}:{p.run_id}",
        function="on_model_evaluated", age="model_evaluated", model_field="model",
        own_time=lambda p: p.evaluated_at,
    ),
    Kind(
        ModelObserved, PREFIX + "model.observed.v1",
        "model.observed: live metrics of a serving revision",
        key=lambda p: f"observed:{p.model}:{p.revision}:{p.window_end.isoformat()}",
        function="on_model_observed", age="model_observed", model_field="model",
        own_time=lambda p: p.window_end,
    ),
    Kind(
        TriggerRequested, PREFIX + "pipeline.trigger.requested.v1",
        "pipeline.trigger.requested: run a pipeline",
        key=_request_key, function="on_request", age="request", request=True,
    ),
    Kind(
        CloseRequested, PREFIX + "pipeline.close.requested.v1",
        "pipeline.close.requested: close a batched pipeline's open window(s) now",
        key=_request_key, function="on_request", age="request", request=True,
    ),
    Kind(
        PromoteRequested, PREFIX + "model.promote.requested.v1",
        "model.promote.requested: promote a version",
        key=_request_key, function="on_request", age="request", model_field="model", request=True,
    ),
    Kind(
        RollbackRequested, PREFIX + "model.rollback.requested.v1",
        "model.rollback.requested: roll a model back",
        # Rollbacks are never too old: returning to the last good version is always safe.
        key=_request_key, function="on_request", age=None, model_field="model", request=True,
    ),
    Kind(
        ApproveRequested, PREFIX + "model.approve.requested.v1",
        "model.approve.requested: approve a canary waiting at an approve step",
        key=_request_key, function="on_request", age="request", model_field="model", request=True,
    ),
    Kind(
        PauseRequested, PREFIX + "model.pause.requested.v1",
        "model.pause.requested: hold a model's automatic promotions and advances",
        key=_request_key, function="on_request", age="request", model_field="model", request=True,
    ),
    Kind(
        ResumeRequested, PREFIX + "model.resume.requested.v1",
        "model.resume.requested: end a pause; re-decide what it held",
        key=_request_key, function="on_request", age="request", model_field="model", request=True,
    ),
    Kind(
        ReplayRequested, PREFIX + "event.replay.requested.v1",
        "event.replay.requested: re-run a dead-lettered event on purpose",
        key=_request_key, function="on_request", age="request", model_field="model", request=True,
    ),
    Kind(
        Tick, PREFIX + "tick.v1",
        "tick: the clock (Cloud Scheduler, every minute) re-drives pending events",
        # Never recorded: a tick is not a fact to decide once, and never too old to run.
        key=lambda p: "tick", function="on_tick", age=None,
    ),
    Kind(
        AlertIncident, MONITORING_INCIDENT,
        "monitoring.incident: a Cloud Monitoring alert incident (Pub/Sub channel, schema 1.2)",
        # Open and closed are two facts about one incident; each is decided once.
        key=lambda p: f"alert:{p.incident_id}:{p.state}", function="on_alert", age=None,
        model_field="model", fallback_time=lambda p: p.started_at, own=False,
    ),
)  # fmt: skip

BY_PAYLOAD: dict[type, Kind] = {k.payload: k for k in KINDS}
BY_TYPE: dict[str, Kind] = {k.ce_type: k for k in KINDS}
OWN_TYPES: dict[str, type] = {k.ce_type: k.payload for k in KINDS if k.own}
AGE_KINDS: tuple[str, ...] = tuple(dict.fromkeys(k.age for k in KINDS if k.age is not None))


def kind_of(payload: object) -> Kind:
    kind = BY_PAYLOAD.get(type(payload))
    if kind is None:
        raise PermanentError("type", f"interlock does not act on {type(payload).__name__}")
    return kind


def model_of(payload: object | None) -> str | None:
    """The model whose state a decision on `payload` reads and writes (None: stateless)."""
    kind = BY_PAYLOAD.get(type(payload))
    if kind is None or kind.model_field is None:
        return None
    value = getattr(payload, kind.model_field)
    return None if value is None else str(value)  # a replayed stateless event has no model


def accepted_by(function: str) -> tuple[type, ...]:
    return tuple(k.payload for k in KINDS if k.function == function)


def request_fields(payload: object | None) -> tuple[str | None, str | None]:
    """(request_id, requested_by) of a manual request; (None, None) for anything else."""
    kind = BY_PAYLOAD.get(type(payload))
    if kind is None or not kind.request:
        return None, None
    return getattr(payload, "request_id", None), getattr(payload, "requested_by", None)
