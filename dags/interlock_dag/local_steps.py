"""DAG helpers: the local target's steps — files on disk, scikit-learn, the Vertex stand-in.

Each step takes and returns small JSON-able dicts (they travel as XComs) and logs what it did.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interlock_dag import chain, manifest, publish, registry, settings
from interlock_dag.chain import TrainedOn
from interlock_dag.dataset import TARGET, load
from interlock_dag.evaluate import evaluate
from interlock_dag.inputs import (
    BadInput,
    Pinned,
    check_content,
    clean_rows,
    parse_conf,
    read_local,
)
from interlock_dag.linear_model import LinearModel
from interlock_dag.trainer import fit, read_clean_csv, write_model

log = logging.getLogger(__name__)


def _pinned(validated: dict[str, Any]) -> Pinned:
    return Pinned(**validated["pinned"])


def run_dir(model: str, run_id: str) -> Path:
    """`{interlock_artifacts}/{model}/{run_id}`, the run id made filesystem- and URI-safe."""
    root = settings.get("interlock_artifacts") or str(
        Path(settings.get("interlock_local_buckets", required=True)) / ".artifacts"
    )
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return Path(root).resolve() / model / safe


def validate_batch(conf: dict[str, Any]) -> dict[str, Any]:
    """A batch window's run: the manifest checked, then every object's generation, size and md5."""
    model, bucket, name, digest, count = manifest.parse_batch_conf(conf)
    root = Path(settings.get("interlock_local_buckets", required=True))
    uri = f"gs://{bucket}/{name}"
    path = (root / bucket / name).resolve()
    if not path.is_relative_to((root / bucket).resolve()) or not path.is_file():
        raise BadInput(f"{uri}: no such manifest (looked for {path})")
    objects = manifest.parse_manifest(path.read_bytes(), digest, count, uri)
    for pinned in objects:
        _, data = read_local(root, pinned)
        check_content(pinned, data, "the manifest")
    log.info("manifest %s for model %s: %d objects, each generation, size and md5 checked",
             uri, model, len(objects))  # fmt: skip
    # Provenance (register's description, model.evaluated's input_uri): the manifest, pinned to
    # its generation like any input (the local stack keeps it in `.meta`, as GCS in the object).
    meta = json.loads((root / ".meta" / bucket / f"{name}.json").read_text())
    generation = int(meta["generation"])
    first = Pinned(f"{uri}#{generation}", bucket, name, generation, None, None)
    trained_on = TrainedOn(first.uri, generation, None, None, digest, len(objects))
    return {
        "model": model,
        "pinned": first.as_dict(),
        "objects": [o.as_dict() for o in objects],
        "trained_on": trained_on.as_dict(),
    }


def validate_input(conf: dict[str, Any] | None) -> dict[str, Any]:
    if manifest.is_batch(conf):
        assert conf is not None
        return validate_batch(conf)
    model, announced = parse_conf(conf)
    root = Path(settings.get("interlock_local_buckets", required=True))
    path, data = read_local(root, announced)
    pinned = check_content(announced, data)
    checked = [c for c, v in (("size", announced.size), ("md5", announced.md5)) if v is not None]
    log.info(
        "input %s for model %s: %d bytes, md5 %s at %s; checked %s",
        pinned.uri, model, len(data), pinned.md5, path,
        ", ".join(checked) or "nothing (conf gave no md5/size)",
    )  # fmt: skip
    trained_on = TrainedOn(pinned.uri, pinned.generation, pinned.md5, pinned.size, None, 1)
    return {
        "model": model,
        "pinned": pinned.as_dict(),
        "path": str(path),
        "trained_on": trained_on.as_dict(),
    }


def preprocess(validated: dict[str, Any], run_id: str) -> dict[str, Any]:
    dataset = load()
    # Each input read again and held to what validate_input checked (the version's labels say
    # so): an overwrite in between removes the generation, and the run must not train on it.
    root = Path(settings.get("interlock_local_buckets", required=True))
    if "objects" in validated:  # a batch window: train on every object of its manifest
        texts = []
        for raw in validated["objects"]:
            pinned = Pinned(**raw)
            _, data = read_local(root, pinned)
            check_content(pinned, data, "the manifest")
            texts.append((pinned.uri, data.decode("utf-8", errors="replace")))
        text = manifest.combined_csv(texts)
    else:
        _, data = read_local(root, _pinned(validated))
        check_content(_pinned(validated), data, "validate_input")
        text = data.decode("utf-8", errors="replace")
    cleaned = clean_rows(text, dataset.feature_names, TARGET)
    out = run_dir(validated["model"], run_id)
    out.mkdir(parents=True, exist_ok=True)
    train_csv = out / "train.csv"
    train_csv.write_text(cleaned.to_csv())
    positives = sum(int(r[-1]) for r in cleaned.rows)
    log.info(
        "preprocessed %d rows (%d dropped; %d positive) with %d features into %s",
        len(cleaned.rows), cleaned.dropped, positives, len(dataset.feature_names), train_csv,
    )  # fmt: skip
    return {"train_csv": str(train_csv), "rows": len(cleaned.rows), "dropped": cleaned.dropped}


def train(prepared: dict[str, Any]) -> dict[str, Any]:
    train_csv = Path(prepared["train_csv"])
    names, features, labels = read_clean_csv(train_csv)
    model = fit(names, features, labels)
    path = write_model(model, train_csv.parent)
    log.info("trained logistic regression on %d rows; artifact %s", len(labels), path)
    return {"artifact_uri": train_csv.parent.as_uri(), "model_path": str(path)}


def evaluate_model(trained: dict[str, Any]) -> dict[str, Any]:
    model = LinearModel.load(Path(trained["model_path"]))
    result = evaluate(model, load().holdout)
    log.info(
        "evaluated %s on %s (%d rows): %s",
        trained["model_path"], result.dataset_id, result.sample_count, result.metrics,
    )  # fmt: skip
    return {
        "dataset_id": result.dataset_id,
        "sample_count": result.sample_count,
        "metrics": result.metrics,
        "evaluated_at": datetime.now(UTC).isoformat(),
    }


def register(
    validated: dict[str, Any],
    trained: dict[str, Any],
    evaluation: dict[str, Any],
    run_id: str,
) -> dict[str, Any]:
    endpoint = settings.get("interlock_vertex_endpoint", required=True).rstrip("/")
    model, trained_on = validated["model"], TrainedOn.from_dict(validated["trained_on"])
    dataset_id = str(evaluation["dataset_id"])
    registered = registry.upload_version(
        endpoint=endpoint,
        project=settings.get("interlock_project", required=True),
        region=settings.get("interlock_region", required=True),
        model_id=validated["model"],
        artifact_uri=trained["artifact_uri"],
        image_uri=settings.get("interlock_serving_image", required=True),
        run_id=run_id,
        description=chain.description(
            model, run_id, trained_on, dataset_id, trained["artifact_uri"]
        ),
        labels=chain.labels(model, run_id, trained_on, dataset_id),
    )
    log.info(
        "%s version %s of %s (artifact %s, trained on %s)",
        "found earlier" if registered.reused else "registered",
        registered.version, registered.model, trained["artifact_uri"], trained_on.uri,
    )  # fmt: skip
    return {"model_name": registered.model, "version": registered.version}


def publish_evaluated(
    validated: dict[str, Any],
    trained: dict[str, Any],
    evaluation: dict[str, Any],
    registered: dict[str, Any],
    run_id: str,
) -> dict[str, Any]:
    payload = publish.evaluated_payload(
        model=validated["model"],
        version=registered["version"],
        evaluation=evaluation,
        run_id=run_id,
        input_uri=validated["pinned"]["uri"],
        artifact_uri=trained["artifact_uri"],
        evaluated_at=datetime.fromisoformat(evaluation["evaluated_at"]),
    )
    now = datetime.now(UTC)
    emulator = settings.get("interlock_pubsub_emulator")
    function_url = settings.get("interlock_function_url")
    if emulator:
        project = settings.get("interlock_project", required=True)
        topic = settings.get("interlock_evaluations_topic", required=True)
        message_id = publish.publish_to_emulator(emulator, project, topic, payload, now)
        log.info(
            "published %s as message %s on projects/%s/topics/%s (emulator %s): %s",
            publish.EVALUATED_TYPE, message_id, project, topic, emulator, payload,
        )  # fmt: skip
        return {"message_id": message_id, "ce_id": publish.event_id(payload), "payload": payload}
    if function_url:
        status = publish.post_structured(function_url, payload, now)
        log.info(
            "posted %s id %s to %s: HTTP %d: %s",
            publish.EVALUATED_TYPE, publish.event_id(payload), function_url, status, payload,
        )  # fmt: skip
        return {"http_status": status, "ce_id": publish.event_id(payload), "payload": payload}
    raise settings.MissingVariable(
        "nowhere to publish model.evaluated: set Variable interlock_pubsub_emulator (host:port) "
        "or interlock_function_url"
    )
