"""The `interlock` command as a person uses it: clear output, one-line errors, exit codes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from interlock.cli.main import main
from interlock_dev.processes import free_port

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "events" / "samples"
POLICY = str(REPO / "interlock.yaml")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_policy_check_passes_when_policy_is_valid(capsys):
    code, out, _ = run(capsys, "policy", "check", POLICY)
    assert code == 0 and "ok — 2 pipeline(s), 1 model(s)" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "models:\n  - name: churn\n    gate: {metrics: {auc: big}}\n",
            'models[0].gate.metrics.auc: expected ">= 0.8"',
        ),
        ("models: [\n", "line 2"),
        ("- just\n- a list\n", "policy: expected a mapping, got a list"),
    ],
    ids=["bad-rule", "bad-yaml", "not-a-mapping"],
)
def test_policy_check_lists_problems_and_exits_1_when_policy_is_invalid(
    capsys, tmp_path, content, expected
):
    path = tmp_path / "p.yaml"
    path.write_text(content)
    code, _, err = run(capsys, "policy", "check", str(path))
    assert code == 1 and expected in err and "Traceback" not in err


def test_policy_check_reports_missing_file_in_one_line(capsys):
    code, _, err = run(capsys, "policy", "check", "/nonexistent/x.yaml")
    assert code == 1 and "cannot read" in err


def test_explain_prints_decision_reasons_and_effects_when_given_a_sample(capsys):
    code, out, _ = run(
        capsys,
        "explain",
        str(SAMPLES / "structured/model.evaluated.json"),
        "--policy",
        POLICY,
        "--now",
        "2024-06-03T11:00:00Z",
    )
    assert code == 0
    assert "decision  promoted" in out and "deploy revision churn-v" in out
    assert "state     nothing serving yet" in out and "→  champion v" in out


def test_explain_shows_dead_letter_reason_when_model_is_unknown(capsys, tmp_path):
    doc = json.loads((SAMPLES / "structured/model.evaluated.json").read_text())
    doc["data"]["model"] = "unknown"
    path = tmp_path / "e.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "explain", str(path), "--policy", POLICY, "--json")
    assert code == 0
    assert json.loads(out)["decision"]["kind"] == "dead_lettered"


def test_explain_uses_given_state_when_a_champion_exists(capsys, tmp_path):
    from interlock.core.codec import encode
    from tests.builders import state

    path = tmp_path / "state.json"
    path.write_text(json.dumps({"churn": encode(state(champion="100", previous=None))}))
    code, out, _ = run(
        capsys,
        "explain",
        str(SAMPLES / "structured/model.evaluated.json"),
        "--policy",
        POLICY,
        "--state",
        str(path),
        "--now",
        "2024-06-03T11:00:00Z",
    )
    assert code == 0 and "decision  stale" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["explain", "/nonexistent.json"], "cannot read event file"),
        (
            ["publish", "model.evaluated", "--field", "model=churn", "--to", "http://127.0.0.1:1/"],
            "required field(s) missing: version, dataset_id",
        ),
        (["publish", "model.evaluated", "--field", "nonsense"], "expected KEY=VALUE"),
        (["publish", "model.evaluted"], "unknown event type 'model.evaluted'"),
        (["publish", "model.evaluated", "--field", "colour=blue"], "has no field 'colour'"),
        (["publish"], "name the event TYPE"),
        (["promote", "churn", "latest", "--to", "http://127.0.0.1:1/"], "version: 'latest'"),
        (["trigger", "churn-training", "s3://x/y", "--to", "http://127.0.0.1:1/"], "object_uri"),
        (["rollback", "Churn!", "--to", "http://127.0.0.1:1/"], "model"),
        (
            ["promote", "churn", "3", "--to", "ftp://x"],
            "expected an http:// or https:// function URL",
        ),
        (
            ["promote", "churn", "3", "--to", "http://127.0.0.1:9/"],
            "cannot reach http://127.0.0.1:9/",
        ),
    ],
)
def test_bad_arguments_end_in_one_clear_line_when_user_errs(capsys, argv, expected, monkeypatch):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    code, _, err = run(capsys, *argv)
    assert code == 1, err
    assert expected in err and "Traceback" not in err
    assert err.startswith("interlock: error: ")


class _Capture(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Capture.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def function_url():
    server = ThreadingHTTPServer(("127.0.0.1", free_port(47300)), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Capture.received.clear()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_promote_posts_a_valid_request_with_fresh_request_id_when_sent_to_a_url(
    capsys, function_url
):
    code, out, _ = run(
        capsys,
        "promote",
        "churn",
        "3",
        "--by",
        "ana",
        "--reason",
        "hotfix",
        "--to",
        function_url,
        "--no-wait",
    )
    assert code == 0 and "request id req-" in out
    ((headers, event),) = _Capture.received
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert event["type"] == "dev.interlock.model.promote.requested.v1"
    assert event["data"] == {
        **event["data"],
        "model": "churn",
        "version": "3",
        "requested_by": "ana",
        "reason": "hotfix",
        "force": False,
    }


def test_publish_builds_nested_fields_and_keeps_string_types(capsys, function_url):
    argv = ["publish", "model.observed", "--to", function_url, "--no-wait", "--allow-expired"]
    for field in ("model=churn", "revision=churn-v3", "version=3", "window_start=2026-11-25T10:00:00Z",
                  "window_end=2026-11-25T10:05:00Z", "sample_count=120", "metrics.error_rate=0.01"):  # fmt: skip
        argv += ["--field", field]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    ((_, event),) = _Capture.received
    assert event["data"]["version"] == "3" and event["data"]["metrics"] == {"error_rate": 0.01}


def test_publish_accepts_a_structured_cloudevent_file(capsys, function_url):
    code, _, err = run(
        capsys,
        "publish",
        "--file",
        str(SAMPLES / "structured/model.rollback.requested.json"),
        "--to",
        function_url,
        "--no-wait",
    )
    assert code == 0, err
    assert _Capture.received[0][1]["type"] == "dev.interlock.model.rollback.requested.v1"


def test_status_shows_what_is_pending_and_since_when(capsys, tmp_path):
    from datetime import UTC, datetime

    from interlock.adapters.ledger_sqlite import SqliteLedger
    from interlock.core.events import DataLanded
    from interlock.core.inbound import Inbound
    from interlock.core.pending import park
    from interlock.core.policy import PendingPolicy

    ledger = SqliteLedger(tmp_path / "ledger.db")
    landed = DataLanded(bucket="interlock-landing", name="churn/incoming/a.csv", generation=7)
    event = Inbound(id="e1", type="google.cloud.storage.object.v1.finalized", source="//gcs",
                    time=None, payload=landed)  # fmt: skip
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    key = "gcs:interlock-landing/churn/incoming/a.csv#7"
    ledger.park(park(event, key, "Airflow answered 503", when, PendingPolicy()))
    code, out, _ = run(
        capsys, "status", "--policy", POLICY, "--ledger", f"sqlite:{ledger.path}", "--project", "p"
    )
    assert code == 0
    assert "pending (1), re-driven by the tick:" in out
    assert f"data.landed      {key}" in out
    assert (
        "since 2026-12-01 09:30:00Z, 1 attempt(s), next 09:31:00Z, gives up 2026-12-02 09:30:00Z"
        in out
    )
    assert "last failure: Airflow answered 503" in out


def test_status_shows_each_pipeline_run_and_how_it_ended_when_runs_were_watched(capsys, tmp_path):
    from datetime import UTC, datetime, timedelta

    from interlock.adapters.ledger_sqlite import SqliteLedger
    from interlock.core.effects import TriggerDag
    from interlock.core.runs import checked, ended, watch_of

    ledger = SqliteLedger(tmp_path / "ledger.db")
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    runs = {}
    for n in (1, 2, 3):
        uri = f"gs://interlock-landing/churn/incoming/day{n}.csv#{n}"
        effect = TriggerDag("churn-training", "train_on_arrival", f"gcs__r{n}", {"object": uri})
        runs[n] = watch_of(effect, f"gcs:k{n}", f"e{n}", "t", when + timedelta(minutes=n))
        ledger.watch(runs[n])
    later = when + timedelta(minutes=5)
    ledger.update_run(ended(runs[1], "run_succeeded", None, later))
    why = "task preprocess failed (try 1): BadInput: the landed file lacks 3 column(s)"
    ledger.update_run(ended(runs[2], "run_failed", why, later))
    ledger.update_run(checked(runs[3], "running", later))

    code, out, _ = run(
        capsys, "status", "--policy", POLICY, "--ledger", f"sqlite:{ledger.path}", "--project", "p"
    )

    assert code == 0
    assert "churn-training → DAG train_on_arrival: 3 recent run(s)" in out
    lines = out.splitlines()
    first = lines.index(
        "    2026-12-01 09:33:00Z  gs://interlock-landing/churn/incoming/day3.csv#3"
    )
    assert lines[first + 1].startswith(
        "      run gcs__r3: running, 1 check(s); watched by the tick"
    )
    assert f"      run gcs__r2: run_failed (recorded 2026-12-01 09:35:00Z): {why}" in lines
    assert "      run gcs__r1: run_succeeded (recorded 2026-12-01 09:35:00Z)" in lines


def test_explain_with_a_ledger_shows_how_the_landing_run_ended_when_it_was_read_back(
    capsys, tmp_path
):
    from datetime import UTC, datetime

    from interlock.adapters.ledger_sqlite import SqliteLedger
    from interlock.core.runs import ended, watch_of

    sample = str(SAMPLES / "structured/storage.object.finalized.json")
    args = ("explain", sample, "--policy", POLICY, "--now", "2024-06-03T09:01:00Z", "--json")
    decided = json.loads(run(capsys, *args)[1])
    run_id = decided["decision"]["effects"][0].split(" run ")[1]
    ledger = SqliteLedger(tmp_path / "ledger.db")
    code, out, _ = run(capsys, *args[:-1], "--ledger", f"sqlite:{ledger.path}")
    assert code == 0 and f"runs      {run_id}: not triggered yet" in out

    from interlock.core.effects import TriggerDag

    effect = TriggerDag("churn-training", "train_on_arrival", run_id, {})
    when = datetime(2024, 6, 3, 9, 5, tzinfo=UTC)
    ledger.update_run(
        ended(watch_of(effect, "k", "e", "t", when), "run_failed", "task t failed", when)
    )
    code, out, _ = run(capsys, *args[:-1], "--ledger", f"sqlite:{ledger.path}")
    assert f"runs      {run_id}: run_failed (recorded 2024-06-03 09:05:00Z): task t failed" in out


def test_request_exits_4_saying_the_decision_is_unknown_when_no_ledger_can_be_read(
    capsys, function_url, monkeypatch, tmp_path
):
    for name in (
        "INTERLOCK_LEDGER",
        "INTERLOCK_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "PUBSUB_EMULATOR_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no local stack here
    code, out, err = run(capsys, "rollback", "churn", "--to", function_url)
    assert code == 4 and "HTTP 204" in out
    assert "the decision is not known: no ledger to read it from" in err
