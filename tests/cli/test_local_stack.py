"""`interlock` against a local stack, as a person at a terminal drives it: `dev up` in one
terminal, the README's commands in another (no environment set), each waiting for its decision.

One stack (no Airflow) serves the whole module; the commands run as subprocesses, in the
stack's directory, so what is under test is what a user meets: output, exit code, state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock_dev.emulators import pubsub_unavailable
from interlock_dev.processes import session_pids
from tests.fixtures.components import require

REPO = Path(__file__).resolve().parents[2]
INTERLOCK = str(Path(sys.executable).with_name("interlock"))

pytestmark = [pytest.mark.pubsub]


def user_env() -> dict[str, str]:
    """A fresh terminal: nothing interlock-specific set but the port offset of this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "PUBSUB_"))}
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    if "INTERLOCK_PORT_OFFSET" in os.environ:
        env["INTERLOCK_PORT_OFFSET"] = os.environ["INTERLOCK_PORT_OFFSET"]
    return env


def interlock(cwd: Path, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INTERLOCK, *argv], cwd=cwd, env=user_env(), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require("Pub/Sub emulator", pubsub_unavailable())
    home = tmp_path_factory.mktemp("terminal")
    policy = home / "my-policy.yaml"
    policy.write_text((REPO / "interlock.yaml").read_text())
    log = (home / "up.log").open("w")
    up = subprocess.Popen(
        [INTERLOCK, "dev", "up", "--no-airflow", "--policy", str(policy)], cwd=home,
        env=user_env(), stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in (home / "up.log").read_text():
            assert up.poll() is None, (home / "up.log").read_text()
            assert time.monotonic() < deadline, (home / "up.log").read_text()
            time.sleep(0.2)
        yield home
    finally:
        if up.poll() is None:
            interlock(home, "dev", "down")
        up.wait(timeout=30)
        log.close()


def state(home: Path) -> dict:
    return json.loads((home / ".interlock/dev/stack.json").read_text())


def test_dev_up_prints_the_exports_and_honours_its_policy_when_started(stack):
    out = (stack / "up.log").read_text()
    info = state(stack)
    assert f"export PUBSUB_EMULATOR_HOST={info['pubsub']}" in out
    assert "export INTERLOCK_PROJECT=demo-project" in out
    assert f"export INTERLOCK_LEDGER=sqlite:{stack}/.interlock/dev/ledger.db" in out
    env = interlock(stack, "dev", "env")
    assert env.returncode == 0 and f"export PUBSUB_EMULATOR_HOST={info['pubsub']}" in env.stdout
    fn = info["pgids"][-1]  # the ticker's or a function's environment names the given policy
    assert info["policy"] == str(stack / "my-policy.yaml")
    environ = Path(f"/proc/{info['pgids'][3]}/environ").read_bytes().split(b"\0")
    assert f"INTERLOCK_POLICY={stack / 'my-policy.yaml'}".encode() in environ, fn


def test_rollback_waits_and_exits_3_with_the_reason_when_nothing_was_applied(stack):
    run = interlock(stack, "rollback", "churn", "--by", "ana", "--reason", "drill")
    assert run.returncode == 3, run.stderr
    assert "to projects/demo-project/topics/interlock-requests" in run.stdout
    assert "decision  needs_human  churn (manual) by ana" in run.stdout
    assert "no previous version to roll back to" in run.stdout
    assert "nothing was applied (needs_human)" in run.stdout
    assert "waiting for the decision" in run.stderr and "Traceback" not in run.stderr
    ledger = SqliteLedger(stack / ".interlock/dev/ledger.db")
    assert any(o.kind == "needs_human" and o.requested_by == "ana" for o in ledger.outcomes())


def test_promote_accepts_v7_and_reports_a_dead_letter_when_the_version_does_not_exist(stack):
    run = interlock(stack, "promote", "churn", "v99", "--json")
    assert run.returncode == 3, run.stderr
    doc = json.loads(run.stdout)
    assert doc["decision"]["kind"] == "dead_lettered" and doc["applied"] is False
    assert doc["decision"]["request_id"] == doc["request_id"]
    assert (
        "churn@99" in doc["decision"]["reasons"][0] and "%40" not in doc["decision"]["reasons"][0]
    )


def test_request_sent_to_the_wrong_function_reports_its_dead_letter_when_posted_with_to(stack):
    url = state(stack)["functions"]["on_model_evaluated"]
    run = interlock(stack, "rollback", "churn", "--to", url)
    assert run.returncode == 3, run.stderr
    assert "HTTP 200" in run.stdout and "decision  dead_lettered  churn" in run.stdout
    assert "send it to on_request (topic interlock-requests)" in run.stdout


def test_no_wait_exits_0_once_published_and_a_timeout_exits_4_when_nothing_decides(stack):
    run = interlock(stack, "rollback", "churn", "--no-wait")
    assert run.returncode == 0 and "published" in run.stdout and "decision" not in run.stdout
    # No function takes the decisions topic: no decision can come.
    run = interlock(stack, "rollback", "churn", "--topic", "interlock-decisions", "--timeout", "1")
    assert run.returncode == 4, run.stderr
    assert "no decision after 1s" in run.stdout


def test_status_finds_the_stack_and_dev_events_repeats_what_it_showed(stack):
    run = interlock(stack, "status", "churn")
    assert run.returncode == 0, run.stderr
    assert "needs_human" in run.stdout and "churn: nothing serving yet" in run.stdout
    first = interlock(stack, "dev", "events")
    second = interlock(stack, "dev", "events")
    assert first.returncode == second.returncode == 0
    assert "interlock-decisions: needs_human churn — manual request by ana" in first.stdout
    assert second.stdout.startswith(first.stdout)
    assert (
        "interlock-dead-letter: dead letter dev.interlock.model.rollback.requested.v1 — type:"
        in first.stdout
    )


def test_dev_up_refuses_a_second_stack_when_one_runs_on_the_same_root(stack):
    run = interlock(stack, "dev", "up", "--no-airflow")
    assert run.returncode == 1
    assert "a local stack already runs under .interlock/dev" in run.stderr


def test_a_second_stack_on_another_root_gets_its_own_ports_and_ledger(stack):
    other = stack / "other"
    env = {**user_env(), "INTERLOCK_DEV_ROOT": str(other)}
    log = (stack / "other.log").open("w")
    up = subprocess.Popen([INTERLOCK, "dev", "up", "--no-airflow"], cwd=stack, env=env,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in (stack / "other.log").read_text():
            assert up.poll() is None and time.monotonic() < deadline, (
                stack / "other.log"
            ).read_text()
            time.sleep(0.2)
        mine, theirs = state(stack), json.loads((other / "stack.json").read_text())
        assert set(mine["functions"].values()).isdisjoint(theirs["functions"].values())
        assert mine["pubsub"] != theirs["pubsub"] and mine["ledger"] != theirs["ledger"]
        run = subprocess.run([INTERLOCK, "rollback", "churn", "--by", "bo"], cwd=stack, env=env,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert run.returncode == 3 and "needs_human" in run.stdout, run.stderr
        assert [o.requested_by for o in SqliteLedger(other / "ledger.db").outcomes()] == ["bo"]
        assert "bo" not in {
            o.requested_by for o in SqliteLedger(stack / ".interlock/dev/ledger.db").outcomes()
        }
    finally:
        subprocess.run([INTERLOCK, "dev", "down"], cwd=stack, env=env, capture_output=True,
                       timeout=60, check=False)  # fmt: skip
        up.wait(timeout=30)
        log.close()


def test_dev_down_stops_exactly_its_processes_then_says_none_runs(stack):
    pgids = state(stack)["pgids"]
    run = interlock(stack, "dev", "down")
    assert run.returncode == 0 and "stopped" in run.stdout
    assert all(not session_pids(p) for p in pgids)
    again = interlock(stack, "dev", "down")
    assert again.returncode == 1 and "no local stack running" in again.stderr
    status = interlock(stack, "status", "--policy", str(REPO / "interlock.yaml"))
    assert status.returncode == 1 and "no project" in status.stderr
    reset = interlock(stack, "dev", "reset")
    assert reset.returncode == 0 and "cleared ledger.db" in reset.stdout
    assert not (stack / ".interlock/dev/ledger.db").exists()


def test_readiness_refuses_a_port_answered_by_another_stacks_process(tmp_path):
    """Two stacks racing for one port: the loser must not take the winner's answers as its own."""
    from interlock_dev.processes import ServiceProcess, free_port, http_ok, owns_port, wait_until

    port = free_port(47290)
    winner = ServiceProcess("winner", [sys.executable, "-m", "http.server", str(port),
                                       "--bind", "127.0.0.1"], tmp_path / "w.log").start()  # fmt: skip
    loser = ServiceProcess("loser", [sys.executable, "-c", "import time; time.sleep(60)"],
                           tmp_path / "l.log").start()  # fmt: skip
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/"), 20, "http.server", winner)
        assert owns_port(winner, port)
        assert not owns_port(loser, port)
    finally:
        winner.stop(grace_s=1)
        loser.stop(grace_s=1)
