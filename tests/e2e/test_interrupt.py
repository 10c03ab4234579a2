"""Ctrl-C during `interlock dev up` and `interlock demo` leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .leftovers import processes_under

INTERLOCK = str(Path(sys.executable).with_name("interlock"))


def start(argv: list[str], root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [INTERLOCK, *argv, "--root", str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip


def wait_line(proc: subprocess.Popen[str], fragment: str, timeout_s: float = 120) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if fragment in line:
            return seen
    raise AssertionError(f"never printed {fragment!r}:\n{''.join(seen)}")


def interrupt_and_check(proc: subprocess.Popen[str], root: Path) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground group on Ctrl-C
    out, _ = proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while processes_under(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_under(root) == [], "left behind after Ctrl-C"
    return out


@pytest.mark.slow
def test_ctrl_c_while_airflow_starts_leaves_nothing_running(tmp_path):
    root = tmp_path / "dev"
    proc = start(["dev", "up"], root)
    try:
        wait_line(proc, "functions ")  # Airflow is starting now: the hardest moment to stop
        time.sleep(2)
        out = interrupt_and_check(proc, root)
        assert "stopped: no process left behind" in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_dev_down_stops_a_running_stack(tmp_path):
    root = tmp_path / "dev"
    proc = start(["dev", "up", "--no-airflow"], root)
    try:
        wait_line(proc, "ready:")
        down = subprocess.run(
            [INTERLOCK, "dev", "down", "--root", str(root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stderr
        proc.wait(timeout=30)
        assert processes_under(root) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_ctrl_c_during_demo_leaves_nothing_running(tmp_path):
    root = tmp_path / "demo"
    proc = subprocess.Popen(
        [INTERLOCK, "demo", "--root", str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_line(proc, "airflow ", timeout_s=240)
        time.sleep(1)
        interrupt_and_check(proc, root)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
