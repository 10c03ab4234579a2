"""Test DAG: one task and no schedule, so contract tests can trigger runs on the real Airflow.

Imports from `airflow.sdk` on Airflow 3 and from `airflow.decorators` on Airflow 2.
"""

from __future__ import annotations

try:
    from airflow.sdk import dag, task
except ModuleNotFoundError:  # Airflow 2.x
    from airflow.decorators import dag, task  # type: ignore[no-redef]


@dag(dag_id="interlock_noop", schedule=None, catchup=False, tags=["interlock-test"])
def interlock_noop() -> None:
    @task
    def noop(**context: object) -> None:
        # A real task (not EmptyOperator, which never reaches a worker) proves runs can execute.
        print("conf:", getattr(context.get("dag_run"), "conf", None))

    noop()


interlock_noop()
