"""No traceback for a user mistake, anywhere; help that names what exists; errors in words."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from interlock.cli.main import main, parser

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "events" / "samples"
POLICY = str(REPO / "interlock.yaml")
INTERLOCK = str(Path(sys.executable).with_name("interlock"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_prints_the_installed_version_when_asked(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("interlock 0.")


def test_help_lists_every_subcommand_with_a_line_and_every_argument_has_help():
    root = parser()
    text = root.format_help()
    commands = root._subparsers._group_actions[0]  # type: ignore[union-attr]
    for choice in commands._choices_actions:
        assert choice.help, choice.dest
        assert choice.dest in text
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.dest not in ("help",) and not action.option_strings and action.nargs != 0:
                assert action.help or action.dest.endswith("command"), (name, action.dest)
    assert "status --json" not in commands.choices["explain"].format_help()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["explain", str(SAMPLES / "structured/model.evaluated.json"), "--policy", POLICY, "--now", "yesterday"],
         "interlock: error: --now: not an RFC 3339 timestamp: 'yesterday'"),
        (["demo", "--root", "/proc/interlock-demo"], "interlock: error: demo:"),
        (["publish", "model.observed", "--field", "model=churn", "--no-wait"],
         "required field(s) missing: revision, version, window_start, window_end, sample_count, metrics"),
        (["trigger", "churn-training", "gs://interlock-landing/a.csv"], "add the object's generation after '#'"),
        (["status", "--policy", POLICY, "--ledger", "sqlite:/nonexistent/ledgr.db"], "no ledger at /nonexistent/ledgr.db"),
    ],
    ids=["explain-now", "demo-root", "missing-fields", "trigger-generation", "ledger-typo"],
)  # fmt: skip
def test_a_user_mistake_ends_in_one_line_when_made(capsys, argv, expected):
    code, _, err = run(capsys, *argv)
    assert code == 1 and expected in err and "Traceback" not in err


def test_status_limit_below_one_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--limit", "-1"])
    assert exit_.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_explain_json_reports_errors_as_json_too(capsys):
    code, out, _ = run(capsys, "explain", str(SAMPLES / "structured/model.evaluated.json"),
                       "--policy", POLICY, "--now", "yesterday", "--json")  # fmt: skip
    assert code == 1 and json.loads(out) == {
        "error": "--now: not an RFC 3339 timestamp: 'yesterday'"
    }


def test_explain_says_dead_lettered_when_the_functions_could_not_parse_the_event(capsys):
    code, out, _ = run(capsys, "explain", str(SAMPLES / "malformed/missing-id.json"),
                       "--policy", POLICY, "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["decision"]["kind"] == "dead_lettered"


def test_explain_suggests_the_events_own_time_when_it_expired(capsys):
    code, out, _ = run(capsys, "explain", str(SAMPLES / "structured/model.evaluated.json"),
                       "--policy", POLICY)  # fmt: skip
    assert code == 0 and "hint      evaluate as of the event's own time with --now 2024-" in out


def test_status_piped_into_head_exits_quietly_when_the_reader_leaves(tmp_path):
    from interlock.adapters.ledger_sqlite import SqliteLedger
    from interlock.core.events import Outcome
    from tests.builders import NOW

    ledger = SqliteLedger(tmp_path / "ledger.db")
    for i in range(300):  # far more than a pipe buffer holds
        ledger.record(f"k{i}", Outcome(
            decision_id=f"d-{i}", kind="rejected", subject="churn", event_id=f"e{i}",
            event_type="t", reasons=("x" * 2000,), effects=(), decided_at=NOW,
        ))  # fmt: skip
    pipeline = subprocess.run(
        f"{INTERLOCK} status --policy {POLICY} --ledger sqlite:{tmp_path}/ledger.db --limit 500"
        f" | head -c 1",
        shell=True, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert pipeline.stdout == "c" and pipeline.stderr == ""
