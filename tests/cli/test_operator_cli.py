"""`interlock approve|pause|resume` as an operator uses them: the command posts its request to a
function URL whose handler runs on fakes; the ledger and the traffic say what happened."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import POLICY, run
from tests.handlers.world import evaluation, inbound, window


def test_approve_moves_a_waiting_canary_to_full_traffic_when_an_operator_approves(
    capsys, world_url
):
    w, url = world_url
    w.handler.handle(inbound(evaluation("1"), "e1"))
    w.handler.handle(inbound(evaluation("2"), "e2"))
    assert w.handler.handle(inbound(window("2", 1), "w1")).kind == "awaiting_approval"
    code, out, err = run(
        capsys,
        "approve",
        "churn",
        "2",
        "--by",
        "ana",
        "--reason",
        "looks good",
        "--to",
        url,
        "--no-wait",
    )
    assert code == 0, err and "request id req-" in out
    assert w.traffic() == {"churn-v2": 100}
    (approved,) = [o for o in w.ledger.outcomes() if o.requested_by == "ana"]
    assert approved.kind == "promoted" and "approved by ana: looks good" in approved.reasons


def test_pause_all_then_resume_holds_and_then_promotes_a_passing_evaluation(capsys, world_url):
    w, url = world_url
    w.handler.handle(inbound(evaluation("1"), "e1"))
    code, _, err = run(
        capsys,
        "pause",
        "--all",
        "--policy",
        POLICY,
        "--by",
        "bo",
        "--reason",
        "incident",
        "--to",
        url,
        "--no-wait",
    )
    assert code == 0, err
    assert w.ledger.load("churn").state.paused_by == "bo"
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "held"
    assert w.traffic() == {"churn-v1": 100}
    code, _, err = run(capsys, "resume", "churn", "--by", "bo", "--to", url, "--no-wait")
    assert code == 0, err
    assert w.traffic() == {"churn-v1": 90, "churn-v2": 10}
    assert [o.kind for o in w.ledger.outcomes()][:2] == ["promoted", "held"]


@pytest.mark.parametrize(
    "argv, expected",
    [(["pause"], "pause: name one MODEL or pass --all"),
     (["resume", "churn", "--all"], "resume: name one MODEL or pass --all")],
)  # fmt: skip
def test_pause_and_resume_need_one_model_or_all_when_run(capsys, argv, expected):
    code, _, err = run(capsys, *argv)
    assert code == 1 and err.strip() == f"interlock: error: {expected}"


@pytest.mark.parametrize("command", ["approve", "pause", "resume"])
def test_operator_commands_have_help_when_asked(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, command, "--help")
    assert exit_.value.code == 0 and "--reason" in capsys.readouterr().out
