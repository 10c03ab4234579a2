"""End to end on each real Airflow: one GCS finalize event delivered three times to on_data_landed
(functions-framework over HTTP, password login: basic auth on Airflow 2.11, JWT on Airflow 3)
starts exactly one DAG run, and the DAG folder imported there without errors."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.core.codec import format_time
from interlock_dev.bucket import LocalBucket
from interlock_dev.processes import HOST, ServiceProcess, free_port
from tests.fixtures.airflow import VERSIONS
from tests.fixtures.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
DAG = "interlock_noop"


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # a GET on a CloudEvent function is 4xx: it is up
    except OSError:
        return False
    return True


def _post(url: str, event: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), method="POST",
        headers={"Content-Type": "application/cloudevents+json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return int(response.status)


@pytest.fixture
def on_data_landed(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """on_data_landed under functions-framework, pointed at the parametrized Airflow."""
    airflow = request.getfixturevalue(f"airflow{request.param}")
    policy = yaml.safe_load((REPO / "interlock.yaml").read_text())
    policy["pipelines"][0]["dag_id"] = DAG  # triggering is under test, not training
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "AIRFLOW"))}
    env.update({
        "INTERLOCK_POLICY": str(tmp_path / "policy.yaml"),
        "INTERLOCK_PROJECT": "demo-project",
        "INTERLOCK_LEDGER": f"sqlite:{tmp_path / 'ledger.db'}",
        "INTERLOCK_BUS": f"file:{tmp_path / 'events.jsonl'}",
        "INTERLOCK_AIRFLOW_URL": airflow.base_url,
        "AIRFLOW_USERNAME": airflow.username,
        "AIRFLOW_PASSWORD": airflow.password,
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    port = free_port(47860)
    argv = [str(Path(sys.executable).with_name("functions-framework")), "--target", "on_data_landed",
            "--source", str(REPO / "functions" / "main.py"), "--signature-type", "cloudevent",
            "--host", HOST, "--port", str(port)]  # fmt: skip
    proc = ServiceProcess("fn-landed", argv, tmp_path / "fn.log", env).start()
    request.addfinalizer(proc.stop)
    url = f"http://{HOST}:{port}"
    wait_for(lambda: _answers(url), 30, "on_data_landed")
    return airflow, url, proc


@pytest.mark.parametrize("on_data_landed", VERSIONS, indirect=True)
def test_finalize_delivered_three_times_starts_one_dag_run_when_airflow_uses_password_login(
    on_data_landed: Any, tmp_path: Path
) -> None:
    airflow, url, proc = on_data_landed
    csv = tmp_path / "day.csv"
    csv.write_text("a,b,target\n1,2,0\n")
    name = f"churn/incoming/{uuid.uuid4().hex[:8]}.csv"
    stored = LocalBucket(tmp_path / "buckets").put("interlock-landing", name, csv)
    event = {
        "specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized",
        "source": "//storage.googleapis.com/projects/_/buckets/interlock-landing",
        "id": uuid.uuid4().hex, "time": format_time(stored.created), "subject": f"objects/{name}",
        "data": stored.resource(),
    }  # fmt: skip

    # Eventarc redelivers the same event; GCS may also notify twice (a new event id).
    statuses = [_post(url, event), _post(url, event), _post(url, {**event, "id": uuid.uuid4().hex})]

    assert statuses == [200, 200, 200], proc.log_tail()
    runs = [r for r in airflow.list_runs(DAG) if r["conf"].get("object") == stored.uri]
    assert len(runs) == 1
    assert runs[0]["conf"]["md5"] == stored.md5_base64
    assert airflow.import_errors() == []
