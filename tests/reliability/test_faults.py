"""Airflow and Cloud Run fail, time out and refuse: retried with backoff, applied once after
recovery, or dead-lettered with the reason; credentials never reach a log. (Upstreams down for
longer than the in-process retries: `test_long_outage.py`.)"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlock.core.inbound import parse_cloudevent
from interlock.core.keys import idempotency_key
from interlock.ports import Message
from interlock_dev.bucket import LocalBucket
from interlock_dev.processes import HOST, ServiceProcess, free_port
from interlock_dev.stack import REPO

from .conftest import SCALE
from .rig import Rig, answers, wait_for


def land_notifications(rig: Rig, scenario: str, tmp_path: Path, count: int) -> dict[str, str]:
    """Objects landed in the local bucket and notified on the data topic: URI → event key."""
    bucket = LocalBucket(Path(rig.stack.info.root) / "buckets")
    csv = tmp_path / "rows.csv"
    csv.write_text("a,target\n1,0\n")
    landed = {}
    for _ in range(count):
        stored = bucket.put("interlock-landing", f"churn/incoming/{uuid.uuid4().hex[:10]}.csv", csv)
        data, attributes = stored.notification()
        message = Message(data, attributes)
        landed[stored.uri] = rig.publish_raw(
            scenario, "interlock-data", message, "GCS notification"
        ).key
    return landed


@pytest.mark.parametrize("mode", ["503", "429", "down"])
def test_airflow_outage_is_retried_and_every_run_created_once_after_recovery(
    rig: Rig, tmp_path, mode
):
    scenario = "Airflow outage"
    rig.airflow_proxy.mode = mode
    faults_before = rig.airflow_proxy.faults_served
    landed = land_notifications(rig, scenario, tmp_path, 3 * SCALE)
    wait_for(
        lambda: rig.airflow_proxy.faults_served - faults_before >= len(landed),
        30,
        "deliveries meeting the outage",
    )
    time.sleep(2)  # a few redeliveries meet the outage too
    rig.airflow_proxy.mode = "pass"
    rig.settle(scenario, timeout_s=120, keys=landed.values())
    rig.check_one_run_each(scenario, landed)
    rig.reconcile(scenario, landed.values())


def test_cloud_run_operation_failures_leave_traffic_unchanged_then_apply_once(rig: Rig):
    scenario = "Cloud Run failures"
    rig.serve_first(scenario, "cloudrun")
    rig.fault(
        match="PATCH /v2/", operation_error={"code": 9, "message": "revision not ready"}, count=2
    )
    before = rig.counters()
    key = rig.publish(scenario, rig.evaluation("cloudrun", 2))
    wait_for(
        lambda: rig.state()["faults_fired"] and not rig.state()["faults"],
        60,
        "both injected failures",
    )
    outcome = wait_for(lambda: rig.outcome(key), 60, "the retried evaluation")
    assert outcome.kind == "promoted"
    assert rig.traffic("cloudrun") == {"cloudrun-v1": 90, "cloudrun-v2": 10}
    after = rig.counters()
    assert after["revisions_created"] - before["revisions_created"] == 1
    rig.check_serving("cloudrun")
    rig.settle(scenario)


def run_landing_function(
    rig: Rig, env_changes: dict[str, str | None], log: Path
) -> tuple[ServiceProcess, str]:
    env = rig.stack.function_env()
    env.update({"INTERLOCK_AIRFLOW_URL": rig.stack.info.airflow, "AIRFLOW_USERNAME": "admin"})
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    port = free_port(47760)
    argv = [str(Path(sys.executable).with_name("functions-framework")), "--target", "on_data_landed",
            "--source", str(REPO / "functions" / "main.py"), "--signature-type", "cloudevent",
            "--host", HOST, "--port", str(port)]  # fmt: skip
    proc = ServiceProcess("fn-auth", argv, log, env).start()
    url = f"http://{HOST}:{port}"
    try:
        wait_for(lambda: answers(url), 30, "the function")
    except BaseException:
        proc.stop()
        raise
    return proc, url


def post_landing(url: str, name: str) -> str:
    import urllib.request

    generation = str(time.time_ns() // 1000)
    event = {
        "specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", "source": "//storage",
        "id": uuid.uuid4().hex, "time": datetime.now(UTC).isoformat(),
        "data": {"bucket": "interlock-landing", "name": name, "generation": generation},
    }  # fmt: skip
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/cloudevents+json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60):
        pass
    attributes = {k: v for k, v in event.items() if k != "data"}
    return idempotency_key(parse_cloudevent(attributes, event["data"]))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"AIRFLOW_PASSWORD": "Wr0ng-Pa55-7f3c91"}, "admin"),
        ({"AIRFLOW_USERNAME": None, "AIRFLOW_PASSWORD": None}, "credentials"),
    ],
    ids=["wrong-password", "missing-credentials"],
)
def test_bad_airflow_credentials_are_a_clear_permanent_error_never_logged(
    rig: Rig, tmp_path, changes, expected
):
    scenario = "bad credentials"
    log = tmp_path / "fn-auth.log"
    proc, url = run_landing_function(rig, changes, log)
    try:
        key = post_landing(url, f"churn/incoming/{uuid.uuid4().hex[:8]}.csv")
        rig.record_sent(scenario, key, "GCS finalized", 1)
        outcome = wait_for(lambda: rig.outcome(key), 30, "the dead letter")
    finally:
        proc.stop()
    assert outcome.kind == "dead_lettered"
    assert expected in outcome.reasons[0]
    rig.settle(scenario)
    secret = "Wr0ng-Pa55-7f3c91"
    logs = [log, *Path(rig.stack.info.root, "logs").glob("*.log")]
    leaked = [str(p) for p in logs if secret in p.read_text(errors="replace")]
    assert leaked == [], f"the password appears in {leaked}"
    assert secret not in json.dumps([o.reasons for o in rig.ledger.outcomes(limit=500)])
