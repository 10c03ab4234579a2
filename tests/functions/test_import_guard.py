"""Import guard: no function's cold path loads a heavy client (issue 17, house rule "cold start").

One fresh interpreter per function: functions-framework loads main.py and serves the function's
first real event (devstack first_events) through the real composition root, on the stand-in
(Vertex AI, Cloud Run), a SQLite ledger, a file bus and an Airflow that is down (the landing is
parked). Then nothing in `sys.modules` may be the high-level Vertex SDK, vertexai, pandas or
Airflow: each costs a cold start ~1-6 s (gcp-facts.md §5).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interlock_dev.first_events import FIRST
from interlock_dev.processes import free_port
from tests.fixtures.standin import StandInServer, unique_id

REPO = Path(__file__).resolve().parents[2]
# google.cloud.monitoring: only the tick's observer loads it, and only once a revision serves
# (a fresh ledger: nothing does), so no first event here may. google.cloud.firestore (~0.35 s of
# gRPC and protobuf): only the Firestore ledger loads it, on its first call; here the ledger is
# SQLite, so nothing may (and test_firestore_client_waits_for_the_first_ledger_call below).
FORBIDDEN = (
    "google.cloud.aiplatform", "vertexai", "pandas", "airflow", "google.cloud.monitoring",
    "google.cloud.firestore", "google.cloud.firestore_v1",
)  # fmt: skip
# What shows the path really ran to its adapters (a guard over a short-circuit proves nothing).
REACHED = {
    "on_data_landed": "interlock.adapters.airflow",
    "on_model_evaluated": "interlock.adapters.cloudrun",
    "on_model_observed": "interlock.adapters.ledger_sqlite",  # a fresh ledger: nothing serves
    "on_request": "interlock.adapters.ledger_sqlite",
    "on_alert": "interlock.adapters.ledger_sqlite",
    "on_dead_letter": "interlock.adapters.ledger_sqlite",
    "on_tick": "interlock.adapters.ledger_sqlite",
}
CHILD = """
import json, sys
from functions_framework import create_app
target, source, event = sys.argv[1], sys.argv[2], sys.argv[3]
app = create_app(target=target, source=source, signature_type="cloudevent")
answer = app.test_client().post(
    "/", data=event, headers={"Content-Type": "application/cloudevents+json"}
)
print(json.dumps({"status": answer.status_code, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def wiring(
    standin_server: StandInServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The functions' environment: the repo's policy, pointed at a fresh model and service."""
    standin = standin_server
    work = tmp_path_factory.mktemp("import-guard")
    model_id, service_id = unique_id("churn"), unique_id("churn")
    standin.upload_model_version(model_id, "gs://interlock-artifacts/churn/1/")
    standin.create_service(service_id, f"{service_id}-v0", "us-docker.pkg.dev/p/serve:0")
    policy = (REPO / "interlock.yaml").read_text()
    policy = policy.replace("projects/demo-project", f"projects/{standin.project}")
    policy = policy.replace("/models/churn", f"/models/{model_id}")
    policy = policy.replace("/services/churn", f"/services/{service_id}")
    (work / "interlock.yaml").write_text(policy)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "AIRFLOW_"))}
    env.pop("PUBSUB_EMULATOR_HOST", None)
    env.update({
        "INTERLOCK_POLICY": str(work / "interlock.yaml"),
        "INTERLOCK_PROJECT": standin.project,
        "INTERLOCK_REGION": standin.location,
        "INTERLOCK_LEDGER": f"sqlite:{work / 'ledger.db'}",
        "INTERLOCK_BUS": f"file:{work / 'events.jsonl'}",
        "INTERLOCK_VERTEX_ENDPOINT": standin.endpoint,
        "INTERLOCK_RUN_ENDPOINT": standin.endpoint,
        "INTERLOCK_AIRFLOW_URL": f"http://127.0.0.1:{free_port(47950)}",  # nobody listens
        "INTERLOCK_AIRFLOW_API": "v2",
        "AIRFLOW_USERNAME": "admin",
        "AIRFLOW_PASSWORD": "admin",
        "INTERLOCK_RETRY_BUDGET_S": "0",
    })  # fmt: skip
    return env


@pytest.fixture(scope="module")
def answers(wiring: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every function's fresh interpreter, run side by side (each is independent of the rest)."""
    main = str(REPO / "functions" / "main.py")
    running = {
        function: subprocess.Popen(
            [sys.executable, "-c", CHILD, function, main, json.dumps(event())],
            env=wiring,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for function, event in FIRST.items()
    }
    done = {}
    for function, child in running.items():
        try:
            out, err = child.communicate(timeout=120)
        finally:
            child.kill()
        done[function] = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    return done


@pytest.mark.parametrize("function", sorted(FIRST))
def test_cold_path_loads_no_heavy_client_when_a_function_serves_its_first_event(
    function: str, answers: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    run = answers[function]
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, run.stderr[-2000:]
    assert REACHED[function] in answer["modules"], f"{function} never reached its adapters"
    heavy = [
        m for m in answer["modules"] if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert heavy == [], f"{function} imported {heavy[:5]} on its cold path"


# A deployment's ledger is Firestore: loading main.py and building the handler and the ticker
# (all a process does before its first event reaches the ledger) must not load its client, and
# a delivery that never needs the ledger (our own dead letter, acked at once) must not either.
FIRESTORE_CHILD = """
import base64, json, sys
from functions_framework import create_app
from interlock import bootstrap
app = create_app(target="on_dead_letter", source=sys.argv[1], signature_type="cloudevent")
bootstrap.handler(), bootstrap.ticker()
built = sorted(sys.modules)
message = {"data": base64.b64encode(b"{}").decode(), "messageId": "1",
           "attributes": {"interlock-reason": "bad input"}}
event = {"specversion": "1.0", "type": "google.cloud.pubsub.topic.v1.messagePublished",
         "source": "//pubsub.googleapis.com/projects/p/topics/interlock-dead-letter", "id": "1",
         "data": {"message": message, "subscription": "projects/p/subscriptions/dl"}}
answer = app.test_client().post(
    "/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"}
)
print(json.dumps({"status": answer.status_code, "built": built, "modules": sorted(sys.modules)}))
"""


def test_firestore_client_waits_for_the_first_ledger_call(wiring: dict[str, str]) -> None:
    env = {**wiring, "INTERLOCK_LEDGER": "firestore", "INTERLOCK_PROJECT": "import-guard"}
    main = str(REPO / "functions" / "main.py")
    run = subprocess.run(
        [sys.executable, "-c", FIRESTORE_CHILD, main],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, run.stderr[-2000:]
    assert "interlock.bootstrap" in answer["built"]  # the handler really was built
    for phase in ("built", "modules"):
        loaded = [m for m in answer[phase] if m.startswith(("google.cloud.firestore", "grpc"))]
        assert loaded == [], f"{phase}: the Firestore client was loaded before any ledger call"
