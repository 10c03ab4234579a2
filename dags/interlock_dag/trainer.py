"""DAG helpers: fit StandardScaler + LogisticRegression on a clean CSV and write `model.json`.

Self-contained (scikit-learn and the standard library only) because the gcp variant ships this
very file to a Vertex AI custom training job (`script_path`); there `gs://` paths are read and
written through the job's Cloud Storage FUSE mount at /gcs/. The artifact is plain JSON, never a
pickle, so servers load it safely without scikit-learn (format: `FORMAT`, read by
`interlock_dag.linear_model` and by the local stand-in's predictions).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

FORMAT = "interlock.linear-classifier.v1"
TARGET = "target"
MODEL_FILE = "model.json"


def fuse_path(uri: str) -> Path:
    """`gs://b/o` as the custom job's FUSE path; local paths and `file://` pass through."""
    if uri.startswith("gs://"):
        return Path("/gcs") / uri[len("gs://") :]
    return Path(uri.removeprefix("file://"))


def read_clean_csv(path: Path) -> tuple[list[str], list[list[float]], list[int]]:
    """A CSV whose columns are features plus `target` (preprocess wrote it: no gaps, 0/1 labels)."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        target = header.index(TARGET)
        names = [h for i, h in enumerate(header) if i != target]
        features, labels = [], []
        for row in reader:
            labels.append(int(float(row[target])))
            features.append([float(v) for i, v in enumerate(row) if i != target])
    return names, features, labels


def fit(names: list[str], features: list[list[float]], labels: list[int]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    classifier = LogisticRegression(max_iter=2000).fit(scaler.transform(features), labels)
    return {
        "format": FORMAT,
        "feature_names": list(names),
        "scaler": {
            "mean": [float(v) for v in scaler.mean_],
            # A constant column has scale 0 in theory; scikit-learn stores 1.0 then, as we want.
            "scale": [float(v) for v in scaler.scale_],
        },
        "coef": [float(v) for v in classifier.coef_[0]],
        "intercept": float(classifier.intercept_[0]),
        "classes": [int(c) for c in classifier.classes_],
        "training_rows": len(labels),
    }


def write_model(model: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MODEL_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(model, indent=1) + "\n")
    tmp.replace(path)  # readers never see half a model
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--train", required=True, help="clean CSV (path, file:// or gs://)")
    parser.add_argument(
        "--out",
        default=os.environ.get("AIP_MODEL_DIR"),
        help="output directory (default: $AIP_MODEL_DIR, set by Vertex AI custom jobs)",
    )
    args = parser.parse_args(argv)
    if not args.out:
        parser.error("--out is required when AIP_MODEL_DIR is not set")
    names, features, labels = read_clean_csv(fuse_path(args.train))
    path = write_model(fit(names, features, labels), fuse_path(args.out))
    print(f"trained on {len(labels)} rows, {len(names)} features; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
