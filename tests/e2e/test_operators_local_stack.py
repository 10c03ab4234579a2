"""The operator commands on the local stack, as a person at a terminal uses them: `interlock dev up
--no-airflow` in one terminal, `interlock approve|pause|resume|replay|status|explain|report` in
another (the CLI finds the stack from its directory). Evaluations and live windows are published
through `interlock publish`, versions uploaded to the stand-in's Vertex AI registry; what
happened is read back from the stack's ledger and from the stand-in's Cloud Run traffic.

One stack serves the module; each test has its own model (own service, own registry entry), so
the tests stand alone. Windows are published by hand (no `observe:`), one healthy window per
canary step, so nothing waits for real minutes.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock_dev.emulators import pubsub_unavailable
from tests.cli.test_local_stack import INTERLOCK, REPO, interlock, user_env
from tests.contract.test_predictions import write_model
from tests.fixtures.components import require
from tests.fixtures.standin import StandInServer

pytestmark = [pytest.mark.pubsub]

PARENT = "projects/demo-project/locations/us-central1"
MODELS = ("churn", "fraud", "spam")  # approval, pause, replay


def _policy(home: Path) -> Path:
    doc = yaml.safe_load((REPO / "interlock.yaml").read_text())
    base = doc["models"][0]
    base.pop("observe", None)  # windows come from `interlock publish model.observed`
    base["canary"].update(steps=[10, "approve", 100], hold_windows=1, min_samples=5)
    base["guard"]["min_samples"] = 5
    doc["models"] = []
    for name in MODELS:
        model = yaml.safe_load(yaml.safe_dump(base))
        model.update(
            name=name, vertex_model=f"{PARENT}/models/{name}", service=f"{PARENT}/services/{name}"
        )
        doc["models"].append(model)
    path = home / "operators.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require("Pub/Sub emulator", pubsub_unavailable())
    home = tmp_path_factory.mktemp("operators")
    policy = _policy(home)
    log = (home / "up.log").open("w")
    up = subprocess.Popen(
        [INTERLOCK, "dev", "up", "--no-airflow", "--policy", str(policy)], cwd=home,
        env=user_env(), stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C" not in (home / "up.log").read_text():
            assert up.poll() is None, (home / "up.log").read_text()
            assert time.monotonic() < deadline, (home / "up.log").read_text()
            time.sleep(0.2)
        standin = _standin(home)
        for name in MODELS[1:]:  # `dev up` creates the churn service; the others exist too
            boot = write_model(home / f"{name}-boot", [0.5, 0.5], 0.0)
            standin.create_service(
                name, f"{name}-boot", "us-docker.pkg.dev/cloudrun/container/hello",
                {"AIP_STORAGE_URI": boot},
            )  # fmt: skip
        yield home
    finally:
        if up.poll() is None:
            interlock(home, "dev", "down")
        try:
            up.wait(timeout=30)
        finally:
            log.close()


# -- what a user has at hand -----------------------------------------------------------------


def _info(home: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((home / ".interlock/dev/stack.json").read_text())
    return doc


def _standin(home: Path) -> StandInServer:
    return StandInServer(_info(home)["standin"], "demo-project", "us-central1", None)  # type: ignore[arg-type]


def _ledger(home: Path) -> SqliteLedger:
    return SqliteLedger(home / ".interlock/dev/ledger.db")


def _upload(home: Path, model: str, version: str) -> None:
    """The version the training DAG would register: the stand-in's registry numbers them 1, 2…"""
    uri = write_model(home / f"{model}-v{version}", [1.0, -1.0], 0.0)
    _, got = _standin(home).upload_model_version(model, uri, {"interlock-model": model})
    assert got == version


def _publish(home: Path, kind: str, payload: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = home / f"{kind}-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(payload))
    return interlock(home, "publish", kind, "--file", str(path), "--json")


def _evaluate(home: Path, model: str, version: str) -> subprocess.CompletedProcess[str]:
    return _publish(home, "model.evaluated", {
        "model": model, "version": version, "dataset_id": "holdout-1", "sample_count": 1000,
        "metrics": {"accuracy": 0.9, "latency_p95_ms": 40.0},
        "evaluated_at": datetime.now(UTC).isoformat(), "run_id": f"run-{uuid.uuid4().hex[:8]}",
    })  # fmt: skip


def _window(home: Path, model: str, version: str) -> subprocess.CompletedProcess[str]:
    end = datetime.now(UTC)
    return _publish(home, "model.observed", {
        "model": model, "revision": f"{model}-v{version}", "version": version,
        "window_start": (end - timedelta(seconds=30)).isoformat(), "window_end": end.isoformat(),
        "sample_count": 100, "metrics": {"error_rate": 0.0, "accuracy": 0.95},
    })  # fmt: skip


def _decision(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run.stdout)
    decision: dict[str, Any] = doc["decision"]
    return decision


def _traffic(home: Path, model: str) -> dict[str, int]:
    served = _standin(home).state()["services"][f"{PARENT}/services/{model}"]["trafficStatuses"]
    return {s["revision"]: s["percent"] for s in served if s.get("percent")}


def _promote_champion(home: Path, model: str) -> None:
    _upload(home, model, "1")
    run = _evaluate(home, model, "1")
    assert run.returncode == 0 and _decision(run)["kind"] == "promoted", run.stdout + run.stderr
    assert _traffic(home, model) == {f"{model}-v1": 100}


def _status(home: Path, model: str) -> dict[str, Any]:
    run = interlock(home, "status", model, "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    (entry,) = [m for m in doc["models"] if m["model"] == model]
    got: dict[str, Any] = entry
    return got


# -- the commands ----------------------------------------------------------------------------


def test_approval_gated_canary_waits_then_completes_when_approved_and_a_republish_is_recognised(
    stack: Path,
) -> None:
    _promote_champion(stack, "churn")
    _upload(stack, "churn", "2")
    run = _evaluate(stack, "churn", "2")
    assert run.returncode == 0 and _decision(run)["kind"] == "promoted", run.stdout
    assert _traffic(stack, "churn") == {"churn-v1": 90, "churn-v2": 10}

    run = _window(stack, "churn", "2")
    assert run.returncode == 3, run.stdout + run.stderr  # nothing moved: it waits for a human
    assert _decision(run)["kind"] == "awaiting_approval"
    assert _traffic(stack, "churn") == {"churn-v1": 90, "churn-v2": 10}
    status = _status(stack, "churn")
    assert status["candidate"]["version"] == "2" and status["candidate"]["awaiting_approval_since"]
    table = interlock(stack, "status", "churn")
    assert table.returncode == 0 and "interlock approve churn 2" in table.stdout, table.stdout

    run = interlock(stack, "approve", "churn", "v2", "--by", "ana", "--reason", "dashboards fine",
                    "--json")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    approved = _decision(run)
    assert (
        approved["kind"] == "promoted" and "approved by ana: dashboards fine" in approved["reasons"]
    )
    assert _traffic(stack, "churn") == {"churn-v2": 100}
    assert _status(stack, "churn")["champion"] == "2"

    # The same approve request, published again (Pub/Sub redelivers; a person re-sends a file).
    again = interlock(stack, "publish", "model.approve.requested", "--json",
                      "--field", f"request_id={json.loads(run.stdout)['request_id']}",
                      "--field", "model=churn", "--field", "version=2",
                      "--field", "requested_by=ana")  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr  # the decision it already had
    assert _decision(again)["decided_at"] == approved["decided_at"]
    by_ana = [o for o in _ledger(stack).outcomes("churn") if o.requested_by == "ana"]
    assert [o.kind for o in by_ana] == ["promoted"], [(o.kind, o.reasons) for o in by_ana]
    assert _traffic(stack, "churn") == {"churn-v2": 100}

    explain = interlock(stack, "explain", "--json", str(_event_file(stack, "churn", "3")))
    assert explain.returncode in (0, 3), explain.stderr
    explained = json.loads(explain.stdout)["decision"]  # v3 against what serves now: v2
    assert explained["state_before"]["champion"]["version"] == "2", explained


def _event_file(home: Path, model: str, version: str) -> Path:
    path = home / f"explain-{model}-{version}.json"
    path.write_text(json.dumps({
        "specversion": "1.0", "type": "dev.interlock.model.evaluated.v1", "source": "//test",
        "id": uuid.uuid4().hex, "time": datetime.now(UTC).isoformat(),
        "data": {"model": model, "version": version, "dataset_id": "holdout-1",
                 "sample_count": 1000, "metrics": {"accuracy": 0.9, "latency_p95_ms": 40.0},
                 "evaluated_at": datetime.now(UTC).isoformat(), "run_id": "run-x"},
    }))  # fmt: skip
    return path


def test_pause_holds_a_passing_evaluation_and_resume_promotes_it_also_with_all(
    stack: Path,
) -> None:
    _promote_champion(stack, "fraud")
    run = interlock(stack, "pause", "fraud", "--by", "bo", "--reason", "incident 42", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert _status(stack, "fraud")["paused"] == "paused by bo: incident 42"

    _upload(stack, "fraud", "2")
    run = _evaluate(stack, "fraud", "2")
    assert run.returncode == 3, run.stdout + run.stderr
    held = _decision(run)
    assert held["kind"] == "held" and any("incident 42" in r for r in held["reasons"]), held
    assert _traffic(stack, "fraud") == {"fraud-v1": 100}
    status = _status(stack, "fraud")
    assert status["held"] == "2" and status["paused"] == "paused by bo: incident 42"

    run = interlock(stack, "resume", "fraud", "--by", "bo", "--reason", "closed", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert _traffic(stack, "fraud") == {"fraud-v1": 90, "fraud-v2": 10}
    status = _status(stack, "fraud")
    assert status["paused"] is None and status["candidate"]["version"] == "2"

    # --all: every model of the stack's own policy (operators.yaml, not ./interlock.yaml).
    run = interlock(stack, "pause", "--all", "--by", "bo", "--reason", "freeze")
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(_status(stack, m)["paused"] == "paused by bo: freeze" for m in MODELS)
    run = interlock(stack, "resume", "--all", "--by", "bo")
    assert run.returncode in (0, 3), run.stdout + run.stderr  # nothing held for most of them
    assert not any(_status(stack, m)["paused"] for m in MODELS)
    table = interlock(stack, "status")
    assert table.returncode == 0 and "fraud" in table.stdout


def test_replayed_dead_letter_is_decided_once_with_its_link_to_the_original(stack: Path) -> None:
    _promote_champion(stack, "spam")
    run = _evaluate(stack, "spam", "2")  # v2 is not in the registry yet: dead-lettered
    assert run.returncode == 3 and _decision(run)["kind"] == "dead_lettered", run.stdout
    original = _decision(run)["event_id"]

    listing = _until_listed(stack, original)
    message_id = listing.split(f"event {original}")[0].split()[-2]
    assert "dev.interlock.model.evaluated.v1" in listing and "field version" in listing

    _upload(stack, "spam", "2")  # the cause, fixed
    run = interlock(stack, "replay", "--pick", message_id, "--by", "cy", "--reason", "registry fixed",
                    "--json")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rerun = _decision(run)
    assert rerun["kind"] == "promoted" and rerun["request_id"] != original
    assert rerun["reasons"][0].startswith(f"replay by cy of dead-lettered event {original}")
    assert _traffic(stack, "spam") == {"spam-v1": 90, "spam-v2": 10}

    # Picked is acked: a second look does not offer it again, so it cannot be re-run by mistake.
    again = interlock(stack, "replay")
    assert again.returncode == 0 and original not in again.stdout, again.stdout
    by_cy = [o for o in _ledger(stack).outcomes("spam") if o.requested_by == "cy"]
    assert [o.kind for o in by_cy] == ["promoted"]
    assert any(o.kind == "dead_lettered" and o.event_id == original
               for o in _ledger(stack).outcomes("spam"))  # fmt: skip


def _until_listed(home: Path, event_id: str) -> str:
    """The dead letter reaches the hold subscription through the emulator: look until it shows."""
    deadline = time.monotonic() + 30
    while True:
        run = interlock(home, "replay")
        assert run.returncode == 0, run.stderr
        if event_id in run.stdout:
            return run.stdout
        assert time.monotonic() < deadline, run.stdout
        time.sleep(0.5)


def test_report_writes_a_page_from_the_stacks_ledger(stack: Path) -> None:
    page = stack / "churn.html"
    run = interlock(stack, "report", "churn", "--html", str(page))
    assert run.returncode == 0, run.stderr
    html = page.read_text()
    assert "<svg" in html and "churn" in html


@pytest.mark.parametrize(
    "command, option",
    [("approve", "--by"), ("pause", "--all"), ("resume", "--all"), ("replay", "--pick"),
     ("status", "--watch"), ("explain", "--json"), ("report", "--html")],
)  # fmt: skip
def test_each_operator_command_explains_itself_when_asked_for_help(
    tmp_path: Path, command: str, option: str
) -> None:
    run = subprocess.run([INTERLOCK, command, "--help"], cwd=tmp_path, env=user_env(),
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 0 and option in run.stdout, run.stdout + run.stderr
