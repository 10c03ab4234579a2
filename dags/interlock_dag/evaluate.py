"""DAG helpers: metrics of a `model.json` on the fixed held-out set (accuracy, AUC, p95 latency).

Latency is measured, not estimated: each held-out row is scored alone, as one online request
would be, with the same plain-Python scorer the serving side uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from interlock_dag.dataset import DATASET_ID, Rows
from interlock_dag.linear_model import LinearModel


@dataclass(frozen=True)
class Evaluation:
    dataset_id: str
    sample_count: int
    metrics: dict[str, float]


def auc(labels: list[int], scores: list[float]) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half)."""
    ranked = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both classes in the held-out set")
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += mean_rank * sum(label for _, label in ranked[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def evaluate(model: LinearModel, holdout: Rows, dataset_id: str = DATASET_ID) -> Evaluation:
    scores, latencies_ms = [], []
    for row in holdout.features:
        started = time.perf_counter()
        scores.append(model.probability(row))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    predicted = [model.classes[1] if s >= 0.5 else model.classes[0] for s in scores]
    correct = sum(p == y for p, y in zip(predicted, holdout.labels, strict=True))
    return Evaluation(
        dataset_id=dataset_id,
        sample_count=len(holdout),
        metrics={
            "accuracy": round(correct / len(holdout), 6),
            "auc": round(auc(holdout.labels, scores), 6),
            "latency_p95_ms": round(percentile(latencies_ms, 95), 4),
        },
    )
