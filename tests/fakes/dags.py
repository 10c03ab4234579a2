"""Fakes layer: an in-memory `DagTrigger` with Airflow's semantics, for handler tests.

`tests/contract/test_dag_trigger.py` runs the same suite against it and the real Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace

from interlock.core.errors import PermanentError, TransientError
from interlock.ports import DagRun, FailedTask, same_run_conf


class FakeDagTrigger:
    """Knows `dag_ids`, of which `paused` are paused; `runs[(dag_id, run_id)]` is every run
    created, in order."""

    def __init__(self, dag_ids: Iterable[str] = (), paused: Iterable[str] = ()) -> None:
        self.dag_ids = set(dag_ids)
        self.paused = set(paused)
        self.runs: dict[tuple[str, str], DagRun] = {}
        self.unavailable = False  # set to behave like an unreachable Airflow

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        if self.unavailable:
            raise TransientError("fake Airflow is unavailable")
        if dag_id not in self.dag_ids:
            raise PermanentError("dag_id", f"Airflow has no DAG {dag_id!r}")
        # Airflow stores conf as JSON: what comes back is what a JSON round trip gives.
        stored = json.loads(json.dumps(dict(conf)))
        existing = self.runs.get((dag_id, run_id))
        if existing is None:
            # Airflow queues a paused DAG's run; the adapter says so in the state.
            state = "queued; the DAG is paused in Airflow" if dag_id in self.paused else "queued"
            run = DagRun(dag_id=dag_id, run_id=run_id, state=state, conf=stored, created=True)
            self.runs[(dag_id, run_id)] = run
            return run
        if not same_run_conf(existing.conf, stored):
            raise PermanentError(
                "run_id", f"run {run_id!r} of DAG {dag_id!r} already exists with a different conf"
            )
        return DagRun(dag_id, run_id, existing.state, existing.conf, created=False)

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        if self.unavailable:
            raise TransientError("fake Airflow is unavailable")
        run = self.runs.get((dag_id, run_id))
        if run is None:
            raise PermanentError("run_id", f"DAG {dag_id!r} has no run {run_id!r}")
        return replace(run, created=False)

    def finish(
        self, dag_id: str, run_id: str, state: str, failed_tasks: Iterable[FailedTask] = ()
    ) -> None:
        """Move a run on, as Airflow's scheduler would (`running`, `success`, `failed`); a failed
        run names its failed tasks (`FailedTask`)."""
        run = self.runs[(dag_id, run_id)]
        tasks = tuple(failed_tasks) if state == "failed" else ()
        self.runs[(dag_id, run_id)] = replace(run, state=state, failed_tasks=tasks)

    def forget(self, dag_id: str, run_id: str) -> None:
        """Delete a run, as an Airflow operator (or a metadata database reset) would."""
        self.runs.pop((dag_id, run_id), None)
