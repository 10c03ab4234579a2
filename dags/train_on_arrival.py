"""DAGs: train_on_arrival — validate the pinned input, train, evaluate, register, publish.

Triggered by interlock (functions/interlock/core/route.py) with conf
`{"object": "gs://BUCKET/NAME#GENERATION", "md5", "size", "event_id", "model", "input"}`, or,
for a batched pipeline's window, `{"manifest_uri", "manifest_sha256", "count", "close_reason", …,
"model"}`: then it checks the manifest and every object in it, and trains on all of them
(interlock_dag/manifest.py).

    validate_input → preprocess → train → evaluate → register → publish_evaluated

validate_input fails the run (no retry) when the pinned generation is gone or its bytes differ:
inputs must stay immutable once a run references them. register puts the lineage chain on the
version — run, pinned input, its md5 or the manifest's sha256, evaluation dataset, the id of the
model.evaluated event publish_evaluated then sends — as labels and a JSON description
(interlock_dag/chain.py).

Airflow Variable `interlock_target` (env AIRFLOW_VAR_INTERLOCK_TARGET) picks the implementation:
`local` (default: files under `interlock_local_buckets`, scikit-learn in the task, the Vertex
stand-in at `interlock_vertex_endpoint`) or `gcp` (Cloud Storage, a Vertex AI custom training job,
Model Registry upload, Pub/Sub; see interlock_dag/gcp_tasks.py). Both publish the same
`dev.interlock.model.evaluated.v1` event.

Local Variables: interlock_local_buckets (objects at `{it}/.objects/{bucket}/{generation}/{name}`),
interlock_artifacts (default `{interlock_local_buckets}/.artifacts`), interlock_vertex_endpoint,
interlock_project, interlock_region, interlock_serving_image, and where to publish:
interlock_pubsub_emulator (host:port, topic interlock_evaluations_topic) or else
interlock_function_url (a structured CloudEvent POST).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from interlock_dag import settings
from interlock_dag.compat import dag, get_current_context, task

DAG_ID = "train_on_arrival"
DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
}


def _context() -> tuple[dict[str, Any], str]:
    context = get_current_context()
    run = context["dag_run"]
    return dict(run.conf or {}), str(run.run_id)


def local_tasks() -> None:
    from interlock_dag import local_steps

    # A bad conf or a missing object will not fix itself: fail at once instead of retrying.
    @task(retries=0)
    def validate_input() -> dict[str, Any]:
        conf, _ = _context()
        return local_steps.validate_input(conf)

    # A CSV that lacks columns or rows (BadInput) will not fix itself either: the run fails at
    # once, so its outcome (run_failed, with this error) comes back within a tick or two.
    @task(retries=0)
    def preprocess(validated: dict[str, Any]) -> dict[str, Any]:
        return local_steps.preprocess(validated, _context()[1])

    @task
    def train(prepared: dict[str, Any]) -> dict[str, Any]:
        return local_steps.train(prepared)

    @task
    def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
        return local_steps.evaluate_model(trained)

    @task
    def register(
        validated: dict[str, Any], trained: dict[str, Any], evaluation: dict[str, Any]
    ) -> dict[str, Any]:
        # Only evaluated models become versions; the version's labels name the evaluation.
        return local_steps.register(validated, trained, evaluation, _context()[1])

    @task
    def publish_evaluated(
        validated: dict[str, Any],
        trained: dict[str, Any],
        evaluation: dict[str, Any],
        registered: dict[str, Any],
    ) -> dict[str, Any]:
        return local_steps.publish_evaluated(
            validated, trained, evaluation, registered, _context()[1]
        )

    validated = validate_input()
    trained = train(preprocess(validated))
    evaluation = evaluate(trained)
    registered = register(validated, trained, evaluation)
    publish_evaluated(validated, trained, evaluation, registered)


@dag(
    dag_id=DAG_ID,
    schedule=None,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["interlock"],
    doc_md=__doc__,
)
def train_on_arrival() -> None:
    if settings.target() == "gcp":
        try:
            from interlock_dag.gcp_tasks import gcp_tasks
        except ModuleNotFoundError as e:
            raise ImportError(
                f"interlock_target=gcp needs apache-airflow-providers-google ({e})"
            ) from e
        gcp_tasks()
    else:
        local_tasks()


train_on_arrival()
