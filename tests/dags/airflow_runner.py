"""Test helper run by the Airflow venv's Python (not pytest): parse the dags folder, maybe dag.test.

    python airflow_runner.py DAGS_FOLDER parse
    python airflow_runner.py DAGS_FOLDER test DAG_ID CONF_JSON
    python airflow_runner.py DAGS_FOLDER render DAG_ID XCOMS_JSON TASK_IDS
        (XCOMS_JSON: upstream task id -> return value; TASK_IDS: comma-separated operators)

Prints one JSON line prefixed with RESULT: so the test can find it among Airflow's logs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    folder, mode = Path(sys.argv[1]).resolve(), sys.argv[2]
    started = time.monotonic()
    bag = dag_bag(folder)
    result: dict[str, object] = {
        "import_errors": bag.import_errors,
        "dags": {d: [t.task_id for t in dag.tasks] for d, dag in bag.dags.items()},
        "parse_s": round(time.monotonic() - started, 3),
    }
    if mode == "test" and not bag.import_errors:
        dag = bag.dags[sys.argv[3]]
        t0 = time.monotonic()
        run = dag.test(run_conf=json.loads(sys.argv[4]))
        result["test_s"] = round(time.monotonic() - t0, 3)
        result["run_id"] = run.run_id
        result["state"] = str(run.state)
        result["tasks"] = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    if mode == "render" and not bag.import_errors:
        tasks = sys.argv[5].split(",")
        result["rendered"] = render(bag.dags[sys.argv[3]], json.loads(sys.argv[4]), tasks)
    print("RESULT:" + json.dumps(result, default=str), flush=True)
    return 0


def dag_bag(folder: Path) -> Any:
    """The DAGs of `folder`, parsed the way this Airflow's own parser does."""
    try:
        from airflow.dag_processing.dagbag import BundleDagBag
    except ModuleNotFoundError:  # Airflow 2: the scheduler's DagBag; the folder is on sys.path
        from airflow.models.dagbag import DagBag

        return DagBag(dag_folder=str(folder), include_examples=False)
    # BundleDagBag is what Airflow 3's dag-processor and task runners use: it puts the folder
    # on sys.path, so DAG files can import their helper packages.
    return BundleDagBag(dag_folder=folder, bundle_path=folder)


def render(dag: Any, xcoms: dict[str, Any], task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The operators' templated fields, rendered with upstream return values from `xcoms`."""

    class FakeTaskInstance:
        def xcom_pull(self, task_ids: str, **_: object) -> Any:
            return xcoms[task_ids]

    context = {"ti": FakeTaskInstance(), "task_instance": FakeTaskInstance(), "run_id": "gcs__r1"}
    rendered = {}
    for task_id in task_ids:
        task = dag.get_task(task_id)
        task.render_template_fields(context)
        rendered[task_id] = {f: getattr(task, f) for f in task.template_fields}
    return rendered


if __name__ == "__main__":
    sys.exit(main())
