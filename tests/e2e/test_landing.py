"""End to end: a GCS notification published to the real Pub/Sub emulator is pushed to
on_data_landed under functions-framework, which starts a run in the real Airflow 3 — once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from interlock import topics
from interlock_dev.deliver import land
from interlock_dev.emulators import pubsub_unavailable
from interlock_dev.stack import LocalStack
from tests.fixtures.components import require
from tests.fixtures.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require("Pub/Sub emulator", pubsub_unavailable())
    root = tmp_path_factory.mktemp("landing")
    policy = yaml.safe_load((REPO / "interlock.yaml").read_text())
    for pipeline in policy["pipelines"]:  # triggering is under test, not training
        pipeline["dag_id"] = "interlock_noop"
    (root / "policy.yaml").write_text(yaml.safe_dump(policy))
    local = LocalStack(
        root / "stack",
        policy=root / "policy.yaml",
        dags=REPO / "tests" / "data" / "dags",
        progress=lambda _: None,
    )
    try:
        local.start()
        yield local
    finally:
        local.stop()


def test_notification_starts_one_dag_run_with_pinned_object_when_published_twice(stack, tmp_path):
    from interlock.adapters.pubsub import PubSubEventBus
    from interlock.ports import Message

    csv = tmp_path / "day.csv"
    csv.write_text("a,b,target\n1,2,0\n")
    stored = land(stack.info, csv, "interlock-landing", "churn/incoming/day.csv")
    runs = wait_for(lambda: stack.airflow.list_runs("interlock_noop"))
    assert len(runs) == 1
    assert runs[0]["conf"]["object"] == stored.uri
    assert runs[0]["conf"]["md5"] == stored.md5_base64

    # At-least-once: the same notification again (a new message id) must not start a second run.
    data, attributes = stored.notification()
    PubSubEventBus(stack.info.project).publish(
        f"projects/{stack.info.project}/topics/{topics.DATA}", Message(data, attributes)
    )
    ledger_path = stack.info.ledger.removeprefix("sqlite:")
    from interlock.adapters.ledger_sqlite import SqliteLedger

    wait_for(
        lambda: len([o for o in SqliteLedger(ledger_path).outcomes() if o.kind == "triggered"]) == 1
    )
    time.sleep(3)  # give a wrong second run time to appear
    assert len(stack.airflow.list_runs("interlock_noop")) == 1
