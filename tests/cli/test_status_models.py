"""`interlock status --json|--watch` and `explain --json` as an operator reads them."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.cli.status_watch import CLEAR, models_command
from interlock.core.policy_load import load_policy
from tests.builders import NOW, POLICY_DOC
from tests.cli.test_cli import SAMPLES, run
from tests.handlers.world import World, evaluation, inbound, window

GATED = {**POLICY_DOC["models"][0], "canary": {"steps": [10, "approve", 100], "hold_windows": 1}}


def _waiting_world(tmp_path):
    w = World(ledger=SqliteLedger(tmp_path / "ledger.db"))
    w.handler.policy = load_policy({**POLICY_DOC, "models": [GATED]})
    for i, payload in enumerate((evaluation("1"), evaluation("2"), window("2", 1))):
        w.handler.handle(inbound(payload, f"e{i}"))
    policy_file = tmp_path / "policy.json"  # JSON is YAML: the same document
    policy_file.write_text(json.dumps({**POLICY_DOC, "models": [GATED]}))
    return w, str(policy_file)


def test_status_json_shows_the_canary_step_and_what_awaits_approval(capsys, tmp_path):
    w, policy_file = _waiting_world(tmp_path)
    capsys.readouterr()
    code, out, err = run(capsys, "status", "--json", "--policy", policy_file,
                         "--ledger", f"sqlite:{w.ledger.path}", "--project", "p")  # fmt: skip
    assert code == 0, err
    (row,) = json.loads(out)["models"]
    assert row["champion"] == "1" and row["candidate"]["percent"] == 10
    assert row["candidate"]["step"] == "1 of 2"
    assert row["candidate"]["awaiting_approval_since"] == "2026-11-25T12:00:00Z"
    assert row["windows"]["churn-v2"][0]["verdict"] == "healthy"
    assert "error_rate <= 0.05" in row["thresholds"]


def test_status_watch_redraws_the_table_in_place_when_watching(capsys, tmp_path):
    w, _ = _waiting_world(tmp_path)
    capsys.readouterr()
    args = argparse.Namespace(model=None, json=False, watch=0.0)
    ticks = iter([NOW, NOW + timedelta(seconds=2)])
    models_command(
        args, w.handler.policy, w.ledger, clock=lambda: next(ticks), sleep=lambda s: None, frames=2
    )
    out = capsys.readouterr().out
    assert out.count(CLEAR) == 2 and "interlock status  2026-11-25 12:00:02Z" in out
    assert "approval    v2 since 2026-11-25T12:00:00Z: interlock approve churn 2" in out
    assert "canary      v2 at 10 % (step 1 of 2, healthy 1 of 1)" in out
    assert "windows     churn-v2: ✓" in out


def test_explain_json_prints_each_effect_whole_and_the_state_before_and_after(capsys):
    sample = SAMPLES / "structured/model.evaluated.json"
    code, out, err = run(capsys, "explain", str(sample), "--json", "--now", "2024-06-03T11:00:00Z")
    assert code == 0, err
    decision = json.loads(out)["decision"]
    deploy = decision["effect_details"][0]
    assert deploy["effect"] == "DeployRevision" and deploy["labels"]["interlock-model"] == "churn"
    assert decision["state_before"]["champion"] is None
    assert (
        decision["state_after"]["champion"]["version"] == decision["effect_details"][0]["version"]
    )
