"""`interlock approve|pause|resume` as an operator uses them: the command posts its request to a
function URL whose handler runs on fakes; the ledger and the traffic say what happened."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from interlock.core.inbound import parse_document
from interlock_dev.processes import free_port
from tests.builders import policy
from tests.cli.test_cli import POLICY, run
from tests.handlers.world import World, evaluation, inbound, window


@pytest.fixture
def world_url():
    """A function URL deciding every posted CloudEvent with a World's handler."""
    world = World()
    world.handler.policy = policy(canary={"steps": [10, "approve", 100], "hold_windows": 1})

    class Deliver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            world.handler.handle(parse_document(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port(47320)), Deliver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield world, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_approve_moves_a_waiting_canary_to_full_traffic_when_an_operator_approves(
    capsys, world_url
):
    w, url = world_url
    w.handler.handle(inbound(evaluation("1"), "e1"))
    w.handler.handle(inbound(evaluation("2"), "e2"))
    assert w.handler.handle(inbound(window("2", 1), "w1")).kind == "awaiting_approval"
    code, out, err = run(
        capsys, "approve", "churn", "2", "--by", "ana", "--reason", "looks good", "--to", url
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
    )
    assert code == 0, err
    assert w.ledger.load("churn").state.paused_by == "bo"
    assert w.handler.handle(inbound(evaluation("2"), "e2")).kind == "held"
    assert w.traffic() == {"churn-v1": 100}
    code, _, err = run(capsys, "resume", "churn", "--by", "bo", "--to", url)
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
