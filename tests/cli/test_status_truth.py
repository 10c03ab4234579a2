"""`interlock status` does not mislead: problems in the header, every time with its zone,
dead letters under their model or file, and a ledger path typo refused rather than created."""

from __future__ import annotations

from pathlib import Path

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.cli.main import main
from interlock.core.errors import PermanentError
from interlock.core.events import DataLanded, Outcome, RollbackRequested
from interlock.core.inbound import Inbound
from interlock.core.outcome import dead_letter_outcome
from tests.builders import NOW

POLICY = str(Path(__file__).resolve().parents[2] / "interlock.yaml")


def outcome(i: int, kind: str, *reasons: str) -> Outcome:
    return Outcome(decision_id=f"d-{i}", kind=kind, subject="churn", event_id=f"e{i}",  # type: ignore[arg-type]
                   event_type="t", reasons=reasons, effects=(), decided_at=NOW)  # fmt: skip


def status(capsys, ledger: SqliteLedger, *argv: str) -> tuple[int, str, str]:
    code = main(["status", *argv, "--policy", POLICY, "--ledger", f"sqlite:{ledger.path}"])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_marks_needs_human_in_the_header_and_times_carry_their_zone(capsys, tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.record("k1", outcome(1, "needs_human", "no previous version to roll back to"))
    code, out, _ = status(capsys, ledger)
    assert code == 0
    assert "churn: nothing serving yet — NEEDS HUMAN: no previous version to roll back to" in out
    assert f"{NOW:%Y-%m-%d %H:%M:%S}Z  needs_human" in out


def test_status_files_dead_letters_under_their_model_and_lost_landings_under_their_file(
    capsys, tmp_path
):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    request = RollbackRequested(model="churn", request_id="r1", requested_by="ana")
    wrong = Inbound(id="e1", type="t", source="//s", time=None, payload=request)
    landed = DataLanded(bucket="interlock-landing", name="churn/incoming/b3.csv", generation=9)
    lost = Inbound(id="e2", type="google.cloud.storage.object.v1.finalized", source="//gcs",
                   time=None, payload=landed)  # fmt: skip
    for key, event in (("k1", wrong), ("k2", lost)):
        err = PermanentError("type", "wrong function")
        ledger.record(key, dead_letter_outcome(key, err, NOW, event_id=event.id,
                                               event_type=event.type, event=event))  # fmt: skip
    code, out, _ = status(capsys, ledger, "churn")
    assert code == 0 and "dead_lettered churn" in out and "b3.csv" not in out
    code, out, _ = status(capsys, ledger)
    assert "dead_lettered gs://interlock-landing/churn/incoming/b3.csv#9" in out


def test_status_refuses_a_ledger_that_does_not_exist_and_creates_nothing(capsys, tmp_path):
    code = main(["status", "--policy", POLICY, "--ledger", f"sqlite:{tmp_path}/typo/ledgr.db"])
    err = capsys.readouterr().err
    assert code == 1 and f"no ledger at {tmp_path}/typo/ledgr.db" in err
    assert not (tmp_path / "typo").exists()
