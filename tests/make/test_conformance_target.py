"""Make: `make conformance` without a project says in one line that it did not run, and succeeds."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_conformance_says_not_run_and_succeeds_when_no_project_is_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "INTERLOCK_CONFORMANCE_PROJECT"}
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "conformance"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert "not run" in lines[0] and "INTERLOCK_CONFORMANCE_PROJECT" in lines[0]
