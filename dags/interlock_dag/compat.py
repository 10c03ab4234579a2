"""DAG helpers: the Airflow names the DAGs use, from Airflow 3's `airflow.sdk` or Airflow 2's
modules (Cloud Composer's default image is still Airflow 2.11), so one DAG file runs on both.

Only this module knows which Airflow it runs on; `variable()` also hides that `Variable.get`'s
default is `default=` in the SDK and `default_var=` in Airflow 2.
"""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import Variable, dag, get_current_context, task

    AIRFLOW_3 = True
except ModuleNotFoundError:  # Airflow 2.x
    from airflow.decorators import dag, task  # type: ignore[no-redef]
    from airflow.models import Variable  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]

    AIRFLOW_3 = False

__all__ = ["AIRFLOW_3", "dag", "get_current_context", "task", "variable"]


def variable(key: str, default: Any) -> Any:
    """Variable `key` (environment `AIRFLOW_VAR_<KEY>` first, then the metadata database)."""
    if AIRFLOW_3:
        return Variable.get(key, default=default)
    return Variable.get(key, default_var=default)
