"""DAG helpers: the gcp target's tasks — Cloud Storage, Vertex AI training and registry, Pub/Sub.

Imported only when Variable `interlock_target` is `gcp`, so the local target never needs
apache-airflow-providers-google. Same task shape and the same event as the local target:

    validate_input → preprocess → train (Vertex AI custom job running trainer.py)
    → evaluate → register (UploadModelOperator, parent_model) → evaluated_message
    → publish_evaluated (PubSubPublishMessageOperator, ce-* attributes)

The version carries the lineage chain (interlock_dag/chain.py) as labels and description,
templated from evaluate's XCom: evaluate assembles them from what validate_input checked.

Variables: interlock_project, interlock_region, interlock_staging_bucket (bucket name),
interlock_training_image, interlock_serving_image, interlock_evaluations_topic,
interlock_gcp_conn_id. The parent model `projects/P/locations/R/models/{model}` must exist: the
provider's upload has no `model_id`, so its first version is created once at setup (e.g.
`gcloud ai models upload --model-id=churn …`). Composer needs scikit-learn (PyPI package) for
the held-out set.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.providers.google.cloud.hooks.gcs import GCSHook
from airflow.providers.google.cloud.operators.pubsub import PubSubPublishMessageOperator
from airflow.providers.google.cloud.operators.vertex_ai.custom_job import (
    CreateCustomTrainingJobOperator,
)
from airflow.providers.google.cloud.operators.vertex_ai.model_service import UploadModelOperator

from interlock_dag import chain, manifest, publish, settings
from interlock_dag.chain import TrainedOn
from interlock_dag.compat import get_current_context, task
from interlock_dag.dataset import TARGET, load
from interlock_dag.evaluate import evaluate
from interlock_dag.inputs import (
    BadInput,
    Pinned,
    check_content,
    check_found,
    clean_rows,
    gone,
    parse_conf,
)
from interlock_dag.linear_model import LinearModel
from interlock_dag.trainer import MODEL_FILE

log = logging.getLogger(__name__)
TRAINER = Path(__file__).with_name("trainer.py")
VALIDATED = "ti.xcom_pull(task_ids='validate_input')"
PREPARED = "ti.xcom_pull(task_ids='preprocess')"
EVALUATED = "ti.xcom_pull(task_ids='evaluate')"


class TrainingJobOperator(CreateCustomTrainingJobOperator):
    """The provider's custom training job, with `args` and `base_output_dir` templated too:
    both name this run's files, which exist only once `preprocess` has run."""

    template_fields = (*CreateCustomTrainingJobOperator.template_fields, "args", "base_output_dir")


class RegisterOperator(UploadModelOperator):
    """The provider's upload; a label templated to "" is one the run does not have (a batch
    has no input md5, a single object no manifest): dropped rather than sent empty."""

    def execute(self, context: Any) -> Any:
        labels = self.model.get("labels") or {}
        self.model = {**self.model, "labels": {k: v for k, v in labels.items() if v != ""}}
        return super().execute(context)


class PublishEvaluatedOperator(PubSubPublishMessageOperator):
    """Messages arrive through XCom (JSON), where bytes cannot travel: encode `data` here."""

    def execute(self, context: Any) -> None:
        self.messages = [
            {**m, "data": m["data"].encode()} if isinstance(m.get("data"), str) else m
            for m in self.messages
        ]
        super().execute(context)
        for m in self.messages:
            log.info("published %s ce-id %s", m["attributes"]["ce-type"], m["attributes"]["ce-id"])


def _run() -> tuple[dict[str, Any], str]:
    run = get_current_context()["dag_run"]
    return dict(run.conf or {}), str(run.run_id)


def _gcs() -> GCSHook:
    return GCSHook(gcp_conn_id=settings.get("interlock_gcp_conn_id"))


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def _generation(pinned: Pinned, announced_by: str = "the event") -> Pinned:
    """The pinned generation's metadata from Cloud Storage, checked against what was announced;
    BadInput when the generation is gone (overwritten or deleted without Object Versioning)."""
    bucket = _gcs().get_conn().bucket(pinned.bucket)
    blob = bucket.get_blob(pinned.name, generation=pinned.generation)
    if blob is None:
        live = bucket.get_blob(pinned.name)
        raise gone(pinned, None if live is None else int(live.generation))
    return check_found(pinned, int(blob.size), blob.md5_hash, announced_by)


def _download(pinned: Pinned) -> bytes:
    from google.api_core.exceptions import NotFound

    blob = _gcs().get_conn().bucket(pinned.bucket).blob(pinned.name, generation=pinned.generation)
    try:
        return bytes(blob.download_as_bytes())
    except NotFound:
        live = _gcs().get_conn().bucket(pinned.bucket).get_blob(pinned.name)
        raise gone(pinned, None if live is None else int(live.generation)) from None


def _validate_batch(conf: dict[str, Any]) -> dict[str, Any]:
    """A batch window's run: the manifest (sha256, count) and every object's generation, size
    and md5 checked against Cloud Storage before anything trains."""
    model, bucket, name, digest, count = manifest.parse_batch_conf(conf)
    uri = f"gs://{bucket}/{name}"
    blob = _gcs().get_conn().bucket(bucket).get_blob(name)
    if blob is None:
        raise BadInput(f"{uri}: no such manifest")
    objects = manifest.parse_manifest(blob.download_as_bytes(), digest, count, uri)
    for pinned in objects:
        _generation(pinned, "the manifest")
    log.info(
        "manifest %s for model %s: %d objects, each generation, size and md5 checked",
        uri,
        model,
        len(objects),
    )
    first = Pinned(f"{uri}#{blob.generation}", bucket, name, int(blob.generation), None, None)
    trained_on = TrainedOn(first.uri, first.generation, None, None, digest, len(objects))
    return {
        "model": model,
        "pinned": first.as_dict(),
        "objects": [o.as_dict() for o in objects],
        "trained_on": trained_on.as_dict(),
    }


def _batch_text(validated: dict[str, Any]) -> str:
    texts = []
    for raw in validated["objects"]:
        pinned = Pinned(**raw)
        data = _download(pinned)
        check_content(pinned, data, "the manifest")
        texts.append((pinned.uri, data.decode("utf-8", errors="replace")))
    return manifest.combined_csv(texts)


def gcp_tasks() -> None:
    project = settings.get("interlock_project", required=True)
    region = settings.get("interlock_region", required=True)
    staging = settings.get("interlock_staging_bucket")
    conn_id = settings.get("interlock_gcp_conn_id")

    @task(retries=0)
    def validate_input() -> dict[str, Any]:
        conf, _ = _run()
        if manifest.is_batch(conf):
            return _validate_batch(conf)
        model, announced = parse_conf(conf)
        # Filled with the generation's own size and md5: what the version's labels record.
        pinned = _generation(announced)
        log.info("input %s for model %s: %s bytes, md5 %s", pinned.uri, model, pinned.size,
                 pinned.md5)  # fmt: skip
        trained_on = TrainedOn(pinned.uri, pinned.generation, pinned.md5, pinned.size, None, 1)
        return {"model": model, "pinned": pinned.as_dict(), "trained_on": trained_on.as_dict()}

    @task
    def preprocess(validated: dict[str, Any]) -> dict[str, Any]:
        _, run_id = _run()
        if not staging:
            raise settings.MissingVariable("Variable interlock_staging_bucket is not set")
        if "objects" in validated:  # a batch window: every object of its manifest
            text = _batch_text(validated)
        else:
            pinned = Pinned(**validated["pinned"])
            data = _download(pinned)
            check_content(pinned, data, "validate_input")
            text = data.decode("utf-8", errors="replace")
        cleaned = clean_rows(text, load().feature_names, TARGET)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
        prefix = f"{validated['model']}/{safe}"
        _gcs().upload(bucket_name=staging, object_name=f"{prefix}/train.csv", data=cleaned.to_csv())
        train_uri = f"gs://{staging}/{prefix}/train.csv"
        log.info(
            "preprocessed %d rows (%d dropped) into %s",
            len(cleaned.rows),
            cleaned.dropped,
            train_uri,
        )
        return {
            "train_uri": train_uri,
            "rows": len(cleaned.rows),
            "base_output_dir": f"gs://{staging}/{prefix}",
            # Vertex AI sets AIP_MODEL_DIR to {base_output_dir}/model/ for the job.
            "artifact_uri": f"gs://{staging}/{prefix}/model",
        }

    train = TrainingJobOperator(
        task_id="train",
        project_id=project,
        region=region,
        display_name="{{ " + VALIDATED + "['model'] }}-train",
        script_path=str(TRAINER),
        container_uri=settings.get("interlock_training_image", required=True),
        requirements=[],
        args=["--train", "{{ " + PREPARED + "['train_uri'] }}"],
        base_output_dir="{{ " + PREPARED + "['base_output_dir'] }}",
        staging_bucket=f"gs://{staging}" if staging else None,
        replica_count=1,
        gcp_conn_id=conn_id,
    )

    @task(task_id="evaluate")
    def evaluate_model(validated: dict[str, Any], prepared: dict[str, Any]) -> dict[str, Any]:
        bucket, name = _split(f"{prepared['artifact_uri']}/{MODEL_FILE}")
        model = LinearModel.from_json(
            json.loads(_gcs().download(bucket_name=bucket, object_name=name))
        )
        result = evaluate(model, load().holdout)
        log.info(
            "evaluated %s on %s (%d rows): %s",
            prepared["artifact_uri"],
            result.dataset_id,
            result.sample_count,
            result.metrics,
        )
        _, run_id = _run()
        model_id, trained_on = validated["model"], TrainedOn.from_dict(validated["trained_on"])
        return {
            "dataset_id": result.dataset_id,
            "sample_count": result.sample_count,
            "metrics": result.metrics,
            "evaluated_at": datetime.now(UTC).isoformat(),
            "artifact_uri": prepared["artifact_uri"],
            # The lineage chain register puts on the version (labels are set at upload).
            "labels": chain.labels(model_id, run_id, trained_on, result.dataset_id),
            "version_description": chain.description(
                model_id, run_id, trained_on, result.dataset_id, prepared["artifact_uri"]
            ),
        }

    register = RegisterOperator(
        task_id="register",
        project_id=project,
        region=region,
        model={
            "display_name": "{{ " + VALIDATED + "['model'] }}",
            "artifact_uri": "{{ " + PREPARED + "['artifact_uri'] }}",
            "container_spec": {"image_uri": settings.get("interlock_serving_image", required=True)},
            "labels": {
                key: "{{ " + EVALUATED + f"['labels'].get('{key}', '') }}}}"
                for key in chain.LABEL_KEYS
            },
            "version_description": "{{ " + EVALUATED + "['version_description'] }}",
        },
        parent_model=f"projects/{project}/locations/{region}/models/{{{{ {VALIDATED}['model'] }}}}",
        gcp_conn_id=conn_id,
    )

    @task
    def evaluated_message(
        validated: dict[str, Any], evaluation: dict[str, Any], registered: dict[str, Any]
    ) -> list[dict[str, Any]]:
        _, run_id = _run()
        payload = publish.evaluated_payload(
            model=validated["model"],
            version=str(registered["model_version_id"]),
            evaluation=evaluation,
            run_id=run_id,
            input_uri=validated["pinned"]["uri"],
            artifact_uri=evaluation["artifact_uri"],
            evaluated_at=datetime.fromisoformat(evaluation["evaluated_at"]),
        )
        log.info("version %s of %s evaluated: %s", payload["version"], payload["model"], payload)
        return [
            {
                "data": publish.message_data(payload).decode(),
                "attributes": publish.attributes(payload, datetime.now(UTC)),
            }
        ]

    validated = validate_input()
    prepared = preprocess(validated)
    prepared >> train
    evaluation = evaluate_model(validated, prepared)
    PublishEvaluatedOperator(
        task_id="publish_evaluated",
        project_id=project,
        topic=settings.get("interlock_evaluations_topic", required=True),
        messages=evaluated_message(validated, evaluation, register.output),
        gcp_conn_id=conn_id,
    )

    train >> evaluation
    evaluation >> register
