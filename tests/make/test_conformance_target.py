"""Make: `make conformance` — it says in one line that it did not run without a project, and its
open-point tests pass against the stand-in (a dry run: the code that would talk to Google runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.standin import StandInServer

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


def test_open_points_hold_on_the_stand_in_when_run_against_its_endpoint(
    standin: StandInServer,
) -> None:
    env = {
        **os.environ,
        "INTERLOCK_CONFORMANCE_PROJECT": standin.project,
        "INTERLOCK_CONFORMANCE_REGION": standin.location,
        "INTERLOCK_CONFORMANCE_ENDPOINT": standin.endpoint,
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/conformance/test_open_points.py", "-q", "-s",
         "-p", "no:cacheprovider"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout
    assert "conformance: stale etag answered 409 ABORTED" in done.stdout
    services = standin.state()["services"]
    assert not [name for name in services if "/services/ilc-" in name], "teardown left services"
