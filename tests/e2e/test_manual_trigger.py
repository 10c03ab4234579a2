"""End to end: `interlock trigger`'s request, through on_request, starts the real training DAG
in the real Airflow 3, and the run succeeds — the conf a manual trigger builds is one the DAG
accepts (it is built by the same code as a routed landing's)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.core.events import TriggerRequested
from interlock_dev.bucket import LocalBucket
from interlock_dev.deliver import publish
from interlock_dev.stack import LocalStack
from tests.fixtures.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "train_on_arrival"

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # The repo's own policy and DAGs: what a user's manual trigger meets.
    local = LocalStack(tmp_path_factory.mktemp("manual") / "stack", progress=lambda _: None)
    try:
        local.start()
        yield local
    finally:
        local.stop()


def test_manual_trigger_runs_the_training_dag_to_success_when_the_object_exists(stack, tmp_path):
    csv = tmp_path / "day.csv"
    script = REPO / "dags" / "interlock_dag" / "make_demo_data.py"
    subprocess.run(
        [sys.executable, str(script), str(csv), "--rows", "350", "--seed", "2"],
        check=True,
        capture_output=True,
    )
    # The object is in the bucket, but no notification was sent: only the request starts a run.
    stored = LocalBucket(Path(stack.info.root) / "buckets").put(
        "interlock-landing", "churn/incoming/manual.csv", csv
    )
    request_id = f"it-{uuid.uuid4().hex[:12]}"
    publish(
        stack.info,
        TriggerRequested(
            request_id=request_id, pipeline="churn-training", object_uri=stored.uri,
            requested_by="e2e",
        ),
    )  # fmt: skip

    def finished():
        runs = [
            r for r in stack.airflow.list_runs(DAG_ID) if r["dag_run_id"] == f"manual__{request_id}"
        ]
        return runs[0] if runs and runs[0].get("state") in ("success", "failed") else None

    run = wait_for(finished, timeout_s=180, what=f"DAG run manual__{request_id} finished")
    assert run["state"] == "success", _task_logs(Path(stack.airflow.home), run["dag_run_id"])
    assert run["conf"]["object"] == stored.uri and run["conf"]["model"] == "churn"
    outcome = SqliteLedger(stack.info.ledger.removeprefix("sqlite:")).get(f"request:{request_id}")
    assert outcome is not None and outcome.kind == "triggered" and outcome.requested_by == "e2e"


def _task_logs(home: Path, run_id: str) -> str:
    """The end of each task's log of a run, so a failure says why without digging."""
    logs = sorted(home.glob(f"logs/**/run_id={run_id}/**/*.log"))
    return "\n".join(f"--- {log.relative_to(home)}\n{log.read_text()[-1500:]}" for log in logs) or (
        f"no task logs under {home}/logs"
    )
