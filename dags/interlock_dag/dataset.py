"""DAG helpers: the demo dataset (scikit-learn's breast cancer set) and its fixed held-out split.

The held-out rows are chosen by hashing row indices, not by a library's random generator, so the
split — and therefore `DATASET_ID` — stays the same across scikit-learn and numpy versions. Landed
training files are drawn only from the other rows (`make_demo_data.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

DATASET_ID = "breast-cancer-holdout-v1"
HOLDOUT_ROWS = 200
TARGET = "target"
_SALT = "interlock-holdout-v1"


@dataclass(frozen=True)
class Rows:
    features: list[list[float]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    feature_names: tuple[str, ...]
    holdout: Rows
    pool: Rows  # every row not held out: the only rows landed files may contain


@lru_cache(maxsize=1)
def load() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    names = tuple(str(n) for n in raw.feature_names)
    order = sorted(
        range(len(raw.target)),
        key=lambda i: hashlib.sha256(f"{_SALT}:{i}".encode()).hexdigest(),
    )
    held = set(order[:HOLDOUT_ROWS])

    def rows(indices: list[int]) -> Rows:
        return Rows(
            features=[[float(v) for v in raw.data[i]] for i in indices],
            labels=[int(raw.target[i]) for i in indices],
        )

    everything = range(len(raw.target))
    return Dataset(
        feature_names=names,
        holdout=rows([i for i in everything if i in held]),
        pool=rows([i for i in everything if i not in held]),
    )
