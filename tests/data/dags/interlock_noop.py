"""Test DAG: one task and no schedule, so contract tests can trigger runs on the real Airflow."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="interlock_noop", schedule=None, catchup=False, tags=["interlock-test"])
def interlock_noop() -> None:
    @task
    def noop(**context: object) -> None:
        # A real task (not EmptyOperator, which never reaches a worker) proves runs can execute.
        print("conf:", getattr(context.get("dag_run"), "conf", None))

    noop()


interlock_noop()
