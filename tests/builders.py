"""Test builders: a policy, states and events with sensible defaults, overridable per row."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from interlock.core.events import ModelEvaluated, ModelObserved
from interlock.core.policy import Policy
from interlock.core.policy_load import load_policy
from interlock.core.state import Candidate, EvaluationRecord, ModelState, Serving, Window

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

POLICY_DOC: dict[str, Any] = {
    "version": 1,
    "pipelines": [
        {
            "name": "churn-training",
            "bucket": "landing",
            "prefix": "churn/",
            "glob": "*.csv",
            "dag_id": "train_on_arrival",
            "conf": {"model": "churn", "input": "{object}"},
        }
    ],
    "models": [
        {
            "name": "churn",
            "vertex_model": "projects/p/locations/l/models/churn",
            "service": "projects/p/locations/l/services/churn",
            "serving": {"image": "img:1", "env": {"MODEL_NAME": "churn"}},
            "gate": {
                "min_samples": 100,
                "same_dataset": True,
                "metrics": {"auc": [">= 0.85", ">= champion - 0.005"], "latency_ms": "<= 120"},
            },
            "canary": {"steps": [10, 50, 100], "hold_windows": 2, "min_samples": 10},
            "guard": {
                "thresholds": {"error_rate": "<= 0.05", "accuracy": ">= 0.8"},
                "breaches": 3,
                "of_windows": 4,
                "min_samples": 10,
                "inconclusive_limit": 2,
                "cooldown": "30m",
                "max_rollbacks": 2,
                "rollback_period": "24h",
                "guard_window": "1h",
            },
        }
    ],
    "max_event_age": {"model_observed": "1h", "request": "1h"},
}


def policy(**model_overrides: Any) -> Policy:
    """The test policy; keyword args deep-merge into models[0] (e.g. guard={"breaches": 1})."""
    doc = copy.deepcopy(POLICY_DOC)
    model = doc["models"][0]
    for key, value in model_overrides.items():
        if isinstance(value, dict) and isinstance(model.get(key), dict):
            model[key].update(value)
        else:
            model[key] = value
    return load_policy(doc)


def record(
    version: str, auc: float = 0.9, dataset: str = "ds1", run: str | None = None
) -> EvaluationRecord:
    return EvaluationRecord(
        version, dataset, 1000, {"auc": auc, "latency_ms": 50.0}, run or f"run-{version}"
    )


def serving(version: str, auc: float = 0.9, dataset: str = "ds1") -> Serving:
    return Serving(
        version, f"churn-v{version}", record(version, auc, dataset), NOW - timedelta(hours=2)
    )


def state(
    champion: str | None = "3",
    previous: str | None = "2",
    candidate: str | None = None,
    step: int = 0,
    healthy: int = 0,
    **changes: Any,
) -> ModelState:
    cand = (
        Candidate(candidate, f"churn-v{candidate}", step, healthy, record(candidate))
        if candidate
        else None
    )
    base = ModelState(
        champion=serving(champion) if champion else None,
        previous=serving(previous) if previous else None,
        candidate=cand,
        guard_until=NOW + timedelta(minutes=30),
    )
    return base.replace(**changes)


def evaluated(version: str = "4", **overrides: Any) -> ModelEvaluated:
    fields: dict[str, Any] = {
        "model": "churn",
        "version": version,
        "dataset_id": "ds1",
        "sample_count": 1000,
        "metrics": {"auc": 0.91, "latency_ms": 80.0},
        "evaluated_at": NOW - timedelta(minutes=5),
        "run_id": f"run-{version}",
    }
    fields.update(overrides)
    return ModelEvaluated(**fields)


def observed(
    revision: str = "churn-v3",
    version: str | None = None,
    minute: int = 0,
    error_rate: float | None = 0.01,
    accuracy: float | None = 0.9,
    samples: int = 100,
) -> ModelObserved:
    metrics = {
        k: v for k, v in (("error_rate", error_rate), ("accuracy", accuracy)) if v is not None
    }
    end = NOW - timedelta(minutes=30) + timedelta(minutes=minute)
    return ModelObserved(
        model="churn",
        revision=revision,
        version=version or revision.rsplit("-v", 1)[1],
        window_start=end - timedelta(minutes=5),
        window_end=end,
        sample_count=samples,
        metrics=metrics,
    )


def windows(revision: str, *verdicts: str) -> dict[str, tuple[Window, ...]]:
    start = NOW - timedelta(hours=1)
    return {
        revision: tuple(Window(start + timedelta(minutes=i), v) for i, v in enumerate(verdicts))
    }  # type: ignore[arg-type]
