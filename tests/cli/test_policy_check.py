"""`interlock policy check` as a person runs it on a file that would hurt in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.cli.main import main

REPO = Path(__file__).resolve().parents[2]
GOOD = (REPO / "interlock.yaml").read_text()


def check(capsys, path: Path) -> tuple[int, str, str]:
    code = main(["policy", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "policy: names no pipelines and no models"),
        ("# only a comment\n", "policy: names no pipelines and no models"),
        ("version: 1\n", "policy: names no pipelines and no models"),
        (GOOD.replace('latency_p95_ms: "<= 120"', 'latency_p95_ms: "<= 120"\n        accuracy: ">= 0.5"'),
         "duplicate key 'accuracy' (first at line"),
        (GOOD.replace("cooldown: 30m", "cooldown: 1:30"), "models[0].guard.cooldown: 90 has no unit"),
        (GOOD.replace("cooldown: 30m", "cooldown: 30"), "models[0].guard.cooldown: 30 has no unit"),
        (GOOD.replace('glob: "*.csv"', 'glob: "churn/incoming/*.csv"'), "pipelines[0].glob: matches the name after the prefix"),
        (GOOD.replace("model: churn", "model: chrun"), "pipelines[0].conf.model: 'chrun' is no model"),
        (GOOD.replace("guard_window: 1h", "guard_window: 0s"), "guard_window: 0s"),
        (GOOD.replace("version: 1", 'version: "1"'), "version: write 1, a number"),
    ],
    ids=["empty", "comments", "version-only", "duplicate-key", "base-60", "bare-number",
         "glob-repeats-prefix", "conf-model-typo", "zero-window", "version-string"],
)  # fmt: skip
def test_policy_check_exits_1_naming_the_problem_when_the_policy_would_hurt(
    capsys, tmp_path, text, expected
):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    code, out, err = check(capsys, path)
    assert code == 1, out
    assert expected in err and "Traceback" not in err


def test_policy_check_refuses_a_file_that_is_not_utf8_without_a_traceback(capsys, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"\xff\xfeversion: 1\n")
    code, _, err = check(capsys, path)
    assert code == 1 and "not UTF-8 text (byte 0xff at offset 0)" in err


def test_policy_check_refuses_a_policy_too_large_for_the_functions(capsys, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD + "#" * (1 << 20))
    code, _, err = check(capsys, path)
    assert code == 1 and "is more than a policy may be (1 MiB)" in err


def test_policy_check_warns_but_passes_when_a_metric_has_no_producer(capsys, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD.replace("error_rate:", "eror_rate:"))
    code, out, err = check(capsys, path)
    assert code == 0 and "ok — 2 pipeline(s), 1 model(s)" in out
    assert (
        "warning: models[0].guard.thresholds.eror_rate: no producer here emits 'eror_rate'" in err
    )


def test_policy_check_reads_the_default_policy_when_no_file_is_named(capsys, monkeypatch):
    monkeypatch.setenv("INTERLOCK_POLICY", str(REPO / "interlock.yaml"))
    code = main(["policy", "check"])
    out, _ = capsys.readouterr()
    assert code == 0 and "interlock.yaml: ok" in out
