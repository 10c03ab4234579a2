"""DAG tests: dags/ parses in the real Airflow 3 and Airflow 2.11, and train_on_arrival runs end
to end on each (dag.test).

Each Airflow lives in its own venv, so both run there as subprocesses (tests/dags/airflow_runner.py)
with a throwaway AIRFLOW_HOME; the end-to-end run registers in the session's stand-in and posts
model.evaluated to a capture server in this process, which the contract then judges.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.contract import validate
from interlock.core.events import ModelEvaluated
from interlock.core.inbound import parse_document
from interlock_dev.processes import free_port
from tests.fixtures.airflow import VERSIONS, venv_of
from tests.fixtures.standin import StandInServer, unique_id

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
RUNNER = Path(__file__).with_name("airflow_runner.py")
MAKE_DEMO_DATA = DAGS / "interlock_dag" / "make_demo_data.py"
CAPTURE_PORT_BASE = 47400
DAG_ID = "train_on_arrival"
EXPECTED_TASKS = [
    "validate_input",
    "preprocess",
    "train",
    "evaluate",
    "register",
    "publish_evaluated",
]
# A venv with apache-airflow and apache-airflow-providers-google, to parse and run the gcp
# (Composer) variant: `make install-airflow-gcp` builds it and `make test` points here.
GCP_VENV_ENV = "INTERLOCK_AIRFLOW_GCP_VENV"

pytestmark = pytest.mark.airflow


def gcp_venv() -> Path:
    """The provider's venv; missing is a broken setup (the Makefile installs it), not a skip."""
    venv = Path(os.environ.get(GCP_VENV_ENV) or REPO / ".venv-airflow-gcp")
    if not (venv / "bin" / "python").exists():
        pytest.fail(f"no Airflow venv with Google's provider at {venv}: run `make "
                    f"install-airflow-gcp` (or set {GCP_VENV_ENV})", pytrace=False)  # fmt: skip
    return venv


@pytest.fixture(scope="session", params=VERSIONS)
def airflow_python(request: pytest.FixtureRequest) -> Path:
    """The Python of each Airflow venv in turn: every test using it runs on both versions."""
    return venv_of(request.param) / "bin" / "python"


def airflow_env(home: Path, variables: Mapping[str, str] | None = None) -> dict[str, str]:
    # Inherited AIRFLOW_* settings or PYTHONPATH would leak the caller's Airflow into the test.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRFLOW") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONWARNINGS": "ignore",  # Airflow 2.11 warns about Airflow 3 on every import
        }
    )
    env.update({f"AIRFLOW_VAR_{k.upper()}": v for k, v in (variables or {}).items()})
    return env


def run_in_airflow(python: Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(RUNNER), str(DAGS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    for line in done.stdout.splitlines():
        if line.startswith("RESULT:"):
            result: dict[str, Any] = json.loads(line[len("RESULT:") :])
            result["output"] = output
            return result
    raise AssertionError(f"runner exited {done.returncode} without a result:\n{output[-4000:]}")


@pytest.fixture(scope="session")
def migrated_home(
    airflow_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, float]:
    """An AIRFLOW_HOME with a migrated SQLite database (dag.test needs one); (home, seconds)."""
    home = tmp_path_factory.mktemp("airflow-home")
    started = time.monotonic()
    done = subprocess.run(
        [str(airflow_python.parent / "airflow"), "db", "migrate"],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return home, time.monotonic() - started


class CaptureServer:
    """Records every POST (headers and JSON body) and answers 204, like a function acking."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []
        captured = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                captured.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(CAPTURE_PORT_BASE)), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def land(buckets: Path, bucket: str, name: str, generation: int, data: bytes) -> dict[str, Any]:
    """Write an object the way the local stack does; the conf interlock's router would send."""
    path = buckets / ".objects" / bucket / str(generation) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    uri = f"gs://{bucket}/{name}#{generation}"
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    return {"object": uri, "md5": md5, "size": len(data), "event_id": "e-1", "input": uri}


def test_dags_folder_imports_without_errors_when_parsed_by_airflow(
    airflow_python: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = run_in_airflow(airflow_python, ["parse"], airflow_env(tmp_path))
    print(f"DAG import: {result['parse_s']} s in-process, {time.monotonic() - started:.1f} s total")
    assert result["import_errors"] == {}
    assert result["dags"] == {DAG_ID: EXPECTED_TASKS}


def test_gcp_variant_imports_when_the_google_provider_is_installed(tmp_path: Path) -> None:
    venv = gcp_venv()
    env = airflow_env(
        tmp_path, {"interlock_target": "gcp", "interlock_staging_bucket": "interlock-staging"}
    )
    labels = {"interlock-model": "churn", "interlock-input-generation": "5"}
    upstream = {
        "validate_input": {"model": "churn", "pinned": {"uri": "gs://landing/a.csv#5"}},
        "preprocess": {
            "train_uri": "gs://interlock-staging/churn/r1/train.csv",
            "base_output_dir": "gs://interlock-staging/churn/r1",
            "artifact_uri": "gs://interlock-staging/churn/r1/model",
        },
        "evaluate": {"labels": labels, "version_description": '{"run_id":"gcs__r1"}'},
    }
    args = ["render", DAG_ID, json.dumps(upstream), "train,register"]
    result = run_in_airflow(Path(venv) / "bin" / "python", args, env)
    assert result["import_errors"] == {}
    # Same steps as the local variant, plus the task that builds the Pub/Sub message.
    assert sorted(result["dags"][DAG_ID]) == sorted([*EXPECTED_TASKS, "evaluated_message"])
    train, register = result["rendered"]["train"], result["rendered"]["register"]
    assert train["args"] == ["--train", "gs://interlock-staging/churn/r1/train.csv"]
    assert train["base_output_dir"] == "gs://interlock-staging/churn/r1"
    assert train["script_path"].endswith("dags/interlock_dag/trainer.py")
    assert register["parent_model"] == "projects/interlock-local/locations/us-central1/models/churn"
    assert register["model"]["artifact_uri"] == "gs://interlock-staging/churn/r1/model"
    # The chain evaluate assembled, one templated label per key ("" = absent, dropped at upload).
    assert {k: v for k, v in register["model"]["labels"].items() if v} == labels
    assert set(register["model"]["labels"]) == {
        "interlock-model", "interlock-run", "interlock-input-generation", "interlock-input-md5",
        "interlock-manifest-sha256", "interlock-eval-dataset", "interlock-eval-event",
    }  # fmt: skip
    assert register["model"]["version_description"] == '{"run_id":"gcs__r1"}'


# Runs in the provider's venv: gcp_tasks' checks of a pinned generation, on the official
# google-cloud-storage client, against the JSON API the local stack serves over its bucket.
GCP_CHECK = """
import json, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from interlock_dag import gcp_tasks
from interlock_dag.inputs import BadInput, parse_conf

client = storage.Client(project="p", credentials=AnonymousCredentials())
gcp_tasks._gcs = lambda: type("Hook", (), {"get_conn": lambda self: client})()
out = {}
for label, conf in json.loads(sys.argv[1]).items():
    _, pinned = parse_conf(conf)
    try:
        out[label] = gcp_tasks._generation(pinned).as_dict()
        out[label + " bytes"] = gcp_tasks._download(pinned).decode()
    except BadInput as e:
        out[label] = str(e)
print("RESULT:" + json.dumps(out))
"""


def test_gcp_variant_checks_the_pinned_generation_and_refuses_one_that_was_overwritten(
    tmp_path: Path,
) -> None:
    venv = gcp_venv()
    from interlock.adapters.storage_local import LocalObjectStore
    from interlock_dev.gcs_api import GcsApi

    store = LocalObjectStore(tmp_path)
    old = store.put("interlock-landing", "in/a.csv", b"day one\n")
    new = store.put("interlock-landing", "in/a.csv", b"day two\n")
    assert old is not None and new is not None
    confs = {
        label: {"object": f"gs://interlock-landing/in/a.csv#{gen}", "model": "churn"}
        for label, gen in (("live", new.generation), ("overwritten", old.generation))
    }
    api = GcsApi(tmp_path, free_port(47480))
    try:
        env = {**airflow_env(tmp_path / "home"), "PYTHONPATH": str(DAGS),
               "STORAGE_EMULATOR_HOST": api.host}  # fmt: skip
        done = subprocess.run(
            [str(Path(venv) / "bin" / "python"), "-c", GCP_CHECK, json.dumps(confs)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        api.close()
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT:")]
    assert lines, done.stdout + done.stderr
    out = json.loads(lines[0].removeprefix("RESULT:"))
    # What the version's labels will record: the generation's own md5 and size.
    assert (out["live"]["md5"], out["live"]["size"]) == (new.md5, new.size)
    assert out["live bytes"] == "day two\n"
    assert out["overwritten"] == (
        f"{confs['overwritten']['object']}: generation {old.generation} no longer exists "
        f"(overwritten after it landed, the live generation is now {new.generation}; without "
        "Object Versioning GCS keeps only the live generation): inputs must stay immutable once "
        "a run references them"
    )


@pytest.mark.slow
def test_local_variant_registers_a_version_and_publishes_evaluated_when_a_csv_lands(
    airflow_python: Path,
    migrated_home: tuple[Path, float],
    standin: StandInServer,
    capture: CaptureServer,
    tmp_path: Path,
) -> None:
    home, migrate_s = migrated_home
    csv_path = tmp_path / "day2.csv"
    subprocess.run(
        [sys.executable, str(MAKE_DEMO_DATA), str(csv_path), "--rows", "350", "--seed", "2"],
        check=True,
        capture_output=True,
    )
    model = unique_id("churn")
    buckets = tmp_path / "buckets"
    conf = {
        **land(buckets, "interlock-landing", "churn/incoming/day2.csv", 1717405212345678, csv_path.read_bytes()),
        "model": model,
    }  # fmt: skip
    variables = {
        "interlock_target": "local",
        "interlock_local_buckets": str(buckets),
        "interlock_artifacts": str(tmp_path / "artifacts"),
        "interlock_vertex_endpoint": standin.endpoint,
        "interlock_project": standin.project,
        "interlock_region": standin.location,
        "interlock_function_url": capture.url,
    }
    started = time.monotonic()
    result = run_in_airflow(
        airflow_python, ["test", DAG_ID, json.dumps(conf)], airflow_env(home, variables)
    )
    print(
        f"db migrate {migrate_s:.1f} s; dag.test {result.get('test_s')} s in-process, "
        f"{time.monotonic() - started:.1f} s with interpreter start and parsing"
    )
    assert result.get("state") == "success", result["output"][-6000:]
    assert result["tasks"] == dict.fromkeys(EXPECTED_TASKS, "success")

    [(headers, event)] = capture.received
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert event["type"] == "dev.interlock.model.evaluated.v1"
    validate(event["type"], event["data"])
    payload = parse_document(event).payload
    assert isinstance(payload, ModelEvaluated)

    data = event["data"]
    version = standin.ok("GET", f"/v1/{standin.parent}/models/{model}@{data['version']}")
    assert version["versionId"] == data["version"] == "1"
    assert version["artifactUri"] == data["artifact_uri"]
    # The lineage chain, on the version: what the run read, how it was judged, what it published.
    md5_hex = hashlib.md5(csv_path.read_bytes()).hexdigest()
    assert version["labels"] == {
        "interlock-model": model,
        "interlock-run": hashlib.sha256(result["run_id"].encode()).hexdigest()[:32],
        "interlock-input-generation": "1717405212345678",
        "interlock-input-md5": md5_hex,
        "interlock-eval-dataset": "breast-cancer-holdout-v1",
        "interlock-eval-event": event["id"],
    }
    assert json.loads(version["versionDescription"]) == {
        "run_id": result["run_id"],
        "input_uri": conf["object"],
        "input_md5": conf["md5"],
        "manifest_sha256": None,
        "objects": 1,
        "dataset_id": "breast-cancer-holdout-v1",
        "evaluated_event_id": event["id"],
        "artifact_uri": data["artifact_uri"],
    }
    assert data["run_id"] == result["run_id"]
    assert data["input_uri"] == conf["object"]
    assert data["dataset_id"] == "breast-cancer-holdout-v1"
    assert data["sample_count"] == 200
    assert data["metrics"]["accuracy"] > 0.9
    assert data["metrics"]["auc"] > 0.9
    assert data["metrics"]["latency_p95_ms"] > 0
    artifact = json.loads(
        (Path(data["artifact_uri"].removeprefix("file://")) / "model.json").read_text()
    )
    assert artifact["format"] == "interlock.linear-classifier.v1"
    assert_servable(standin, data["artifact_uri"], data["version"], len(artifact["feature_names"]))


def assert_servable(standin: StandInServer, artifact_uri: str, version: str, features: int) -> None:
    """The registered artifact serves from a revision made the way interlock's handlers make it."""
    service_id = unique_id("churn")
    template = {
        "revision": f"{service_id}-v{version}",
        "labels": {"interlock-model": "churn", "interlock-version": version},
        "containers": [
            {"image": "serve:1", "env": [{"name": "AIP_STORAGE_URI", "value": artifact_uri}]}
        ],
    }
    op = standin.ok(
        "POST", f"/v2/{standin.parent}/services?serviceId={service_id}", {"template": template}
    )
    service = standin.wait_operation(op)
    body = json.dumps({"instances": [[0.0] * features]}).encode()
    request = urllib.request.Request(f"{service['uri']}/predict", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    assert reply["model_version"] == version
    assert reply["predictions"][0]["label"] in (0, 1)


@pytest.mark.slow
def test_validate_input_fails_the_run_with_the_reason_when_the_md5_differs(
    airflow_python: Path, migrated_home: tuple[Path, float], tmp_path: Path
) -> None:
    home, _ = migrated_home
    buckets = tmp_path / "buckets"
    conf = {
        **land(buckets, "interlock-landing", "churn/incoming/bad.csv", 3, b"not,what,was,announced\n"),
        "md5": "AAAAAAAAAAAAAAAAAAAAAA==",
        "model": "churn",
    }  # fmt: skip
    variables = {
        "interlock_local_buckets": str(buckets),
        "interlock_function_url": "http://127.0.0.1:9/",
    }
    result = run_in_airflow(
        airflow_python, ["test", DAG_ID, json.dumps(conf)], airflow_env(home, variables)
    )
    assert result["state"] == "failed"
    assert result["tasks"]["validate_input"] == "failed"
    assert {result["tasks"][t] for t in EXPECTED_TASKS[1:]} == {"upstream_failed"}
    assert "the event said AAAAAAAAAAAAAAAAAAAAAA==" in result["output"]


@pytest.mark.slow
def test_local_variant_trains_on_every_object_of_the_manifest_when_a_batch_window_closes(
    airflow_python: Path,
    migrated_home: tuple[Path, float],
    standin: StandInServer,
    capture: CaptureServer,
    tmp_path: Path,
) -> None:
    from dataclasses import replace as _replace

    from interlock.adapters.storage_local import LocalObjectStore
    from interlock.core import batch
    from interlock.core.policy import Batch, Pipeline

    home, _ = migrated_home
    buckets = tmp_path / "buckets"
    store = LocalObjectStore(buckets)
    members = []
    for seed in (3, 4, 5):
        csv_path = tmp_path / f"part-{seed}.csv"
        subprocess.run(
            [sys.executable, str(MAKE_DEMO_DATA), str(csv_path), "--rows", "40", "--seed", str(seed)],
            check=True, capture_output=True,
        )  # fmt: skip
        obj = store.put(
            "interlock-landing", f"churn/exports/dt=1/part-{seed}.csv", csv_path.read_bytes()
        )
        assert obj is not None
        members.append(_replace(obj, found_by="notification"))
    model = unique_id("churn")
    pipeline = Pipeline("churn-batched", "interlock-landing", "churn/exports/", "*.csv", DAG_ID,
                        {"model": model}, Batch(sentinel="_SUCCESS", partition="dt=([^/]+)/"))  # fmt: skip
    window = batch.closing(
        _replace(batch.opened(pipeline.name, "1", 0, members[0].time_created), count=3),  # type: ignore[arg-type]
        "sentinel", members[-1].time_created,  # type: ignore[arg-type]
    )  # fmt: skip
    body = batch.manifest(window, members)
    name = batch.manifest_name(window)
    assert store.create("interlock-landing", name, body, "application/json")
    uri = f"gs://interlock-landing/{name}"
    conf = batch.conf(pipeline, window, uri, batch.sha256(body), 3)
    variables = {
        "interlock_target": "local",
        "interlock_local_buckets": str(buckets),
        "interlock_artifacts": str(tmp_path / "artifacts"),
        "interlock_vertex_endpoint": standin.endpoint,
        "interlock_project": standin.project,
        "interlock_region": standin.location,
        "interlock_function_url": capture.url,
    }
    result = run_in_airflow(
        airflow_python, ["test", DAG_ID, json.dumps(conf)], airflow_env(home, variables)
    )
    assert result.get("state") == "success", result["output"][-6000:]
    assert "3 objects, each generation, size and md5 checked" in result["output"]
    assert "preprocessed 120 rows" in result["output"]
    [(_, event)] = capture.received
    validate(event["type"], event["data"])  # what interlock's on_model_evaluated accepts
    assert event["data"]["input_uri"].startswith(f"{uri}#")  # the manifest, pinned
    [manifest_meta] = store.list("interlock-landing", name)
    version = standin.ok("GET", f"/v1/{standin.parent}/models/{model}@{event['data']['version']}")
    assert version["labels"]["interlock-input-generation"] == str(manifest_meta.generation)
    assert version["labels"]["interlock-manifest-sha256"] == conf["manifest_sha256"][:32]
    assert version["labels"]["interlock-eval-event"] == event["id"]
    assert "interlock-input-md5" not in version["labels"]
    described = json.loads(version["versionDescription"])
    assert described["input_uri"] == f"{uri}#{manifest_meta.generation}"
    assert (described["manifest_sha256"], described["objects"]) == (conf["manifest_sha256"], 3)
    assert described["input_md5"] is None


@pytest.mark.slow
def test_validate_input_fails_the_run_when_its_generation_was_overwritten_before_it_started(
    airflow_python: Path, migrated_home: tuple[Path, float], tmp_path: Path
) -> None:
    from interlock.adapters.storage_local import LocalObjectStore

    home, _ = migrated_home
    buckets = tmp_path / "buckets"
    store = LocalObjectStore(buckets)  # no Object Versioning, GCS's default
    name = "churn/incoming/day.csv"
    landed = store.put("interlock-landing", name, b"a,target\n1,0\n")
    newer = store.put("interlock-landing", name, b"a,target\n1,1\n")
    assert landed is not None and newer is not None
    uri = f"gs://interlock-landing/{name}#{landed.generation}"
    conf = {"object": uri, "md5": landed.md5, "size": landed.size, "input": uri, "model": "churn"}
    variables = {
        "interlock_local_buckets": str(buckets),
        "interlock_function_url": "http://127.0.0.1:9/",
    }
    result = run_in_airflow(
        airflow_python, ["test", DAG_ID, json.dumps(conf)], airflow_env(home, variables)
    )
    assert result["state"] == "failed"
    assert result["tasks"]["validate_input"] == "failed"
    assert {result["tasks"][t] for t in EXPECTED_TASKS[1:]} == {"upstream_failed"}
    assert (
        f"BadInput: {uri}: generation {landed.generation} no longer exists (overwritten after it "
        f"landed, the live generation is now {newer.generation}; without Object Versioning GCS "
        "keeps only the live generation): inputs must stay immutable once a run references them"
    ) in result["output"]
