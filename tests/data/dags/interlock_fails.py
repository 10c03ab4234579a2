"""Test DAG: one task that fails at once, so contract tests can read a failed run back.

Imports from `airflow.sdk` on Airflow 3 and from `airflow.decorators` on Airflow 2.
"""

from __future__ import annotations

try:
    from airflow.sdk import dag, task
except ModuleNotFoundError:  # Airflow 2.x
    from airflow.decorators import dag, task  # type: ignore[no-redef]


class BadInput(ValueError):
    """Named like the real DAG's error, so the reason read back from the log is recognisable."""


@dag(dag_id="interlock_fails", schedule=None, catchup=False, tags=["interlock-test"])
def interlock_fails() -> None:
    @task(retries=0)
    def check() -> None:
        raise BadInput("failing on purpose: the landed file lacks 3 column(s)")

    check()


interlock_fails()
