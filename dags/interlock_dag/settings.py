"""DAG helpers: the Airflow Variables that configure the training DAG (env `AIRFLOW_VAR_<KEY>`).

Read through Airflow's `Variable` (interlock_dag.compat), which checks the environment before the
metadata database, so `AIRFLOW_VAR_INTERLOCK_TARGET=gcp` switches the target without touching
the DAG file.
"""

from __future__ import annotations

TARGETS = ("local", "gcp")
DEFAULTS = {
    "interlock_target": "local",
    "interlock_project": "interlock-local",
    "interlock_region": "us-central1",
    "interlock_evaluations_topic": "interlock-evaluations",
    "interlock_serving_image": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest",
    "interlock_training_image": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-3:latest",
    "interlock_gcp_conn_id": "google_cloud_default",
}


class MissingVariable(RuntimeError):
    pass


def get(key: str, required: bool = False) -> str:
    """A Variable's value (stripped), its default, or "" — or raise when `required`."""
    from interlock_dag.compat import variable

    value = str(variable(key, DEFAULTS.get(key, "")) or "").strip()
    if required and not value:
        raise MissingVariable(
            f"Airflow Variable {key!r} is not set (set it, or env AIRFLOW_VAR_{key.upper()})"
        )
    return value


def target() -> str:
    chosen = get("interlock_target").lower()
    if chosen not in TARGETS:
        raise MissingVariable(f"Variable interlock_target is {chosen!r}; expected one of {TARGETS}")
    return chosen
