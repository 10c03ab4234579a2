"""Test DAG: paused from the start, so tests can see what triggering a paused DAG does."""

from __future__ import annotations

try:
    from airflow.sdk import dag, task
except ModuleNotFoundError:  # Airflow 2.x
    from airflow.decorators import dag, task  # type: ignore[no-redef]


@dag(
    dag_id="interlock_paused",
    schedule=None,
    catchup=False,
    is_paused_upon_creation=True,
    tags=["interlock-test"],
)
def interlock_paused() -> None:
    @task
    def noop() -> None:
        print("ran")

    noop()


interlock_paused()
