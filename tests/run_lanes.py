"""Test runner: `make test` runs the suite in lanes, side by side, each on its own port range.

Most of the slow tests wait (for Airflow's scheduler, a tick, a backoff) rather than compute, so
two lanes on two cores finish in about the time of the longer one. Each lane is one pytest
process with its own INTERLOCK_PORT_OFFSET, so their stacks never race for a port; its output
is kept in a log and printed whole when it ends, so lanes never interleave lines.

    python tests/run_lanes.py            # every lane; exit status non-zero if any lane failed
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The stack-heavy tests (whole local stacks, long outages) in one lane, the rest in the other.
LANES: dict[str, list[str]] = {
    "stacks": ["tests/reliability", "tests/e2e"],
    "components": [
        "tests",
        "--ignore=tests/unit",
        "--ignore=tests/reliability",
        "--ignore=tests/e2e",
    ],
}
OFFSETS = {"stacks": 0, "components": 6000}


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="interlock-lanes-"))
    started = time.monotonic()
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for name, args in LANES.items():
        log = logs / f"{name}.log"
        env = {**os.environ, "INTERLOCK_PORT_OFFSET": str(OFFSETS[name])}
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
        with log.open("wb") as out:
            procs[name] = (
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
                log,
            )
        print(f"lane {name}: started ({' '.join(args)})", flush=True)

    def stop(signum: int, frame: object) -> None:
        # Each lane unwinds its fixtures on SIGTERM (tests/conftest.py), stopping what it started.
        for proc, _ in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = []
    waiting = dict(procs)
    while waiting:
        for name, (proc, log) in list(waiting.items()):
            if proc.poll() is None:
                continue
            del waiting[name]
            took = time.monotonic() - started
            print(
                f"\n===== lane {name}: exit {proc.returncode} after {took:.0f}s =====", flush=True
            )
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
            if proc.returncode != 0:
                failed.append(name)
        time.sleep(0.5)
    total = time.monotonic() - started
    print(f"\nlanes: {len(LANES) - len(failed)} of {len(LANES)} passed in {total:.0f}s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
