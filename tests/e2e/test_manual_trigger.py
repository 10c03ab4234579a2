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


def test_bad_csv_run_shows_as_run_failed_with_its_reason_in_status_and_on_decisions_within_two_ticks(
    stack, tmp_path, capsys
):
    from interlock.cli.main import main
    from interlock.core.runs import run_key
    from interlock_dev.deliver import land

    csv = tmp_path / "bad.csv"
    csv.write_text("a,b,target\n1,2,0\n")  # not the churn columns: preprocess raises BadInput
    stored = land(
        stack.info, csv, "interlock-landing", f"churn/incoming/bad-{uuid.uuid4().hex[:8]}.csv"
    )
    ledger = SqliteLedger(stack.info.ledger.removeprefix("sqlite:"))

    def failed_in_airflow():
        runs = [r for r in stack.airflow.list_runs(DAG_ID) if r["conf"].get("object") == stored.uri]
        return runs[0] if runs and runs[0].get("state") in ("success", "failed") else None

    run = wait_for(failed_in_airflow, timeout_s=120, what=f"the DAG run of {stored.uri} finished")
    assert run["state"] == "failed"
    key = run_key(DAG_ID, run["dag_run_id"])

    # Two ticks after Airflow said so (and the time a tick's work takes): the outcome is recorded.
    def ended():
        watched = ledger.watched_run(key)
        return watched is not None and watched.final and ledger.get(key)

    outcome = wait_for(ended, timeout_s=2 * stack.tick_period_s + 5, what="run_failed recorded")
    assert outcome.kind == "run_failed"
    assert "task preprocess failed (try 1)" in outcome.reasons[-1]
    assert "BadInput: the landed file lacks" in outcome.reasons[-1]

    policy, project = str(REPO / "interlock.yaml"), stack.info.project
    assert (
        main(["status", "--policy", policy, "--ledger", stack.info.ledger, "--project", project])
        == 0
    )
    out = capsys.readouterr().out
    assert f"  {stored.uri}" in out
    assert f"run {run['dag_run_id']}: run_failed (recorded " in out and "BadInput" in out

    assert outcome.decision_id in _published_decisions(
        stack, "dev.interlock.pipeline.run_failed.v1"
    )


def test_run_pinned_to_an_overwritten_generation_fails_in_validate_input_and_the_ledger_says_why(
    stack, tmp_path
):
    from interlock.core.runs import run_key

    # Landed, then landed again under the same name before any run read it: without Object
    # Versioning (GCS's default, and the local bucket's) the first generation is gone.
    bucket = LocalBucket(Path(stack.info.root) / "buckets")
    name = f"churn/incoming/overwritten-{uuid.uuid4().hex[:8]}.csv"
    csv = tmp_path / "day.csv"
    csv.write_text("a,target\n1,0\n")
    first = bucket.put("interlock-landing", name, csv)
    csv.write_text("a,target\n1,1\n")
    second = bucket.put("interlock-landing", name, csv)
    request_id = f"it-{uuid.uuid4().hex[:12]}"
    publish(
        stack.info,
        TriggerRequested(
            request_id=request_id, pipeline="churn-training", object_uri=first.uri,
            requested_by="e2e",
        ),
    )  # fmt: skip
    ledger = SqliteLedger(stack.info.ledger.removeprefix("sqlite:"))
    key = run_key(DAG_ID, f"manual__{request_id}")

    def ended():
        watched = ledger.watched_run(key)
        return watched is not None and watched.final and ledger.get(key)

    outcome = wait_for(ended, timeout_s=180, what=f"run_failed of {key} recorded")
    assert outcome.kind == "run_failed"
    assert (
        f"task validate_input failed (try 1): BadInput: {first.uri}: generation "
        f"{first.generation} no longer exists (overwritten after it landed, the live generation "
        f"is now {second.generation};"
    ) in outcome.reasons[-1]
    assert "inputs must stay immutable once a run references them" in outcome.reasons[-1]


def _published_decisions(stack, ce_type: str) -> set[str]:
    """Ids of the `ce_type` outcome events published on the decisions topic so far."""
    import json
    import os

    from interlock import topics
    from interlock.adapters.bus_file import read_events

    if not stack.info.pubsub:
        found = read_events(stack.info.bus.removeprefix("file:"), topics.DECISIONS)
        return {
            e["data"]["decision_id"]  # type: ignore[index]
            for e in found
            if (e.get("attributes") or {}).get("ce-type") == ce_type  # type: ignore[union-attr]
        }
    from interlock_dev.pubsub_admin import PubSubAdmin

    os.environ["PUBSUB_EMULATOR_HOST"] = stack.info.pubsub
    admin = PubSubAdmin(stack.info.project)
    try:
        pulled = admin.pull(f"{topics.DECISIONS}-tail", max_messages=100, wait_s=1.0)
    finally:
        admin.close()
    return {
        json.loads(p.message.data)["decision_id"]
        for p in pulled
        if p.message.attributes.get("ce-type") == ce_type
    }
