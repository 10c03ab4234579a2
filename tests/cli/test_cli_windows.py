"""`interlock status`, `explain --ledger`, `close` and `policy check` for batched pipelines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.core.batch import Member
from tests.cli.test_cli import POLICY, run

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def seeded(tmp_path) -> SqliteLedger:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    for n in range(12):
        name = f"churn/exports/dt=2026-11-30/part-{n:02d}.csv"
        ledger.join("churn-batched", "2026-11-30", Member("interlock-landing", name, 7 + n), T0)
    return ledger


def test_status_shows_open_windows_and_their_members_when_a_pipeline_is_batched(capsys, tmp_path):
    ledger = seeded(tmp_path)
    code, out, _ = run(
        capsys, "status", "--policy", POLICY, "--ledger", f"sqlite:{ledger.path}", "--project", "p"
    )
    assert code == 0
    assert "batch windows (1 open):" in out
    assert "churn-batched/2026-11-30#0" in out and "12 object(s) since 2026-11-30 08:00:00Z" in out
    assert "closes by 2026-11-30 08:02:00Z (quiet), at 500 objects, or on _SUCCESS" in out
    assert (
        "· gs://interlock-landing/churn/exports/dt=2026-11-30/part-00.csv#7  (notification)" in out
    )
    assert "· … and 2 more" in out


def test_explain_shows_the_window_a_landing_would_join_when_given_the_ledger(capsys, tmp_path):
    ledger = seeded(tmp_path)
    data = {
        "bucket": "interlock-landing", "name": "churn/exports/dt=2026-11-30/part-99.csv",
        "generation": "99", "timeCreated": "2026-11-30T08:01:00Z",
    }  # fmt: skip
    event = {
        "specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", "id": "n-99",
        "source": "//storage.googleapis.com/projects/_/buckets/interlock-landing", "data": data,
    }  # fmt: skip
    path = tmp_path / "landed.json"
    path.write_text(json.dumps(event))
    argv = ("explain", str(path), "--policy", POLICY, "--now", "2026-11-30T08:01:00Z")
    code, out, _ = run(capsys, *argv, "--ledger", f"sqlite:{ledger.path}")
    assert code == 0, out
    assert "decision  batched" in out
    assert "joins pipeline churn-batched's batch window 2026-11-30" in out
    assert "churn-batched/2026-11-30#0" in out and "12 object(s)" in out


def test_policy_check_explains_what_replaces_debounce_when_a_policy_still_has_it(capsys, tmp_path):
    text = Path(POLICY).read_text().replace("    batch:\n", "    debounce: 10m\n    batch:\n", 1)
    path = tmp_path / "old.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "policy", "check", str(path))
    assert code == 1
    assert "pipelines[1].debounce: no longer supported" in out + err
    assert "`batch: {quiet: 10m, max_wait: 10m}`" in out + err
