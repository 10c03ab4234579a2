"""DAG helpers: score with a `model.json` (trainer.FORMAT) in plain Python, as a server would.

Evaluation measures latency with this scorer rather than scikit-learn's, because it is what the
serving side runs on the same artifact.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "interlock.linear-classifier.v1"


@dataclass(frozen=True)
class LinearModel:
    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    classes: tuple[int, int]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LinearModel:
        if doc.get("format") != FORMAT:
            raise ValueError(f"model format {doc.get('format')!r} is not {FORMAT!r}")
        names = tuple(str(n) for n in doc["feature_names"])
        model = cls(
            feature_names=names,
            mean=tuple(float(v) for v in doc["scaler"]["mean"]),
            scale=tuple(float(v) or 1.0 for v in doc["scaler"]["scale"]),
            coef=tuple(float(v) for v in doc["coef"]),
            intercept=float(doc["intercept"]),
            classes=(int(doc["classes"][0]), int(doc["classes"][1])),
        )
        if not len(names) == len(model.mean) == len(model.scale) == len(model.coef):
            raise ValueError("feature_names, scaler and coef differ in length")
        return model

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        return cls.from_json(json.loads(path.read_text()))

    def probability(self, row: list[float]) -> float:
        """P(classes[1] | row)."""
        z = self.intercept + sum(
            c * (x - m) / s
            for c, x, m, s in zip(self.coef, row, self.mean, self.scale, strict=True)
        )
        # Split by sign so exp never overflows on extreme rows.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def label(self, row: list[float]) -> int:
        return self.classes[1] if self.probability(row) >= 0.5 else self.classes[0]
