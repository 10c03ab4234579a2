"""The new-user trial's last CLI findings, driven as a user would: output and exit code."""

from __future__ import annotations

import json
from pathlib import Path

from interlock.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "events" / "samples"
POLICY = str(REPO / "interlock.yaml")
OLD_EVALUATION = [
    "publish", "model.evaluated", "--policy", POLICY, "--no-wait",
    "--field", "model=churn", "--field", "version=7", "--field", "dataset_id=eval-2025-06",
    "--field", "sample_count=5000", "--field", "metrics.accuracy=0.91",
    "--field", "metrics.latency_p95_ms=80", "--field", "evaluated_at=2025-06-01T12:00:00Z",
    "--field", "run_id=manual-1",
]  # fmt: skip


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_publish_refuses_when_the_event_is_past_max_event_age(capsys):
    code, out, err = run(capsys, *OLD_EVALUATION, "--to", "http://127.0.0.1:9/")
    assert code == 1 and out == ""
    assert "not published: expired: event is " in err
    assert "max_event_age.model_evaluated is " in err and "--allow-expired" in err


def test_publish_sends_anyway_when_allow_expired_is_given(capsys):
    # Port 9 refuses the connection: the error is the send's, so the age check let it through.
    code, _, err = run(capsys, *OLD_EVALUATION, "--allow-expired", "--to", "http://127.0.0.1:9/")
    assert code == 1 and "not published" not in err and "--to " in err


def test_explain_dead_letters_a_trigger_when_the_object_is_outside_the_pipelines_prefix(
    capsys, tmp_path
):
    doc = json.loads((SAMPLES / "structured/pipeline.trigger.requested.json").read_text())
    doc["data"]["object_uri"] = "gs://interlock-landing/finance/payroll.xlsx#1717171717"
    path = tmp_path / "trigger.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "explain", str(path), "--policy", POLICY, "--now", doc["time"])
    assert code == 0 and "decision  dead_lettered" in out
    assert "'finance/payroll.xlsx' is not an object of pipeline churn-training" in out
    assert "prefix 'churn/incoming/', glob '*.csv'" in out


def test_explain_lists_only_applied_rules_as_passed_when_there_is_no_champion(capsys):
    sample = SAMPLES / "structured/model.evaluated.json"
    now = json.loads(sample.read_text())["time"]
    code, out, _ = run(capsys, "explain", str(sample), "--policy", POLICY, "--now", now)
    passed = next(line for line in out.splitlines() if "gate passed:" in line)
    assert code == 0 and "champion" not in passed
    assert "no champion yet: accuracy >= champion" in out


def test_explain_shows_a_delete_as_deleted_when_the_notification_is_object_delete(capsys):
    sample = SAMPLES / "eventarc-pubsub-binary/gcs-notification.delete.json"
    code, out, _ = run(capsys, "explain", str(sample), "--policy", POLICY)
    assert code == 0 and "event     google.cloud.storage.object.v1.deleted " in out
    assert "finalized" not in out and "decision  ignored" in out
