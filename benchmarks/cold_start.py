"""Cold start per function: process start → first event answered, and the peak RSS then.

Each function answers its first real event (interlock_dev.first_events) on its real path against
the local stack (stand-in, Pub/Sub emulator when installed, Airflow for on_data_landed), in a
fresh functions-framework process; the baseline is a hello-world function measured the same way
in the same run (absolute seconds depend on the machine: the ratio is what compares).
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "benchmarks" / "hello_main.py"
MAIN = REPO / "functions" / "main.py"
HOST = "127.0.0.1"


def hello() -> dict[str, Any]:
    return {"specversion": "1.0", "type": "bench.hello", "source": "//bench",
            "id": uuid.uuid4().hex, "data": {}}  # fmt: skip


@dataclass(frozen=True)
class Start:
    seconds: float  # spawn → first answer
    peak_rss_mib: float  # VmHWM of the process after its first event
    cpu_seconds: float  # user + system CPU of the process to its first answer (load-proof)


def peak_rss_mib(pid: int | None) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")  # not Linux: no /proc


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time the process has used (Linux /proc; 10 ms ticks)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")  # not Linux: no /proc


def cold_start(
    target: str, source: Path, env: dict[str, str], event: Callable[[], dict[str, Any]], logs: Path
) -> Start:
    """One fresh process: seconds to the first answered event (any HTTP status below 500).

    A start whose server never bound its port is run again on another port (up to 3 times):
    our own polls target a port in the ephemeral range, where a connect can bind its source port
    to the very port polled (a self-connection) and hold it while the server tries to listen.
    """
    for _ in range(3):
        start = _one_start(target, source, env, event, logs)
        if start is not None:
            return start
    raise RuntimeError(f"{target}: its server could not bind a port three times; logs in {logs}")


def _one_start(
    target: str, source: Path, env: dict[str, str], event: Callable[[], dict[str, Any]], logs: Path
) -> Start | None:
    from interlock_dev.processes import ServiceProcess, free_port

    port = free_port(47700)
    binary = str(Path(sys.executable).with_name("functions-framework"))
    argv = [binary, "--target", target, "--source", str(source), "--signature-type", "cloudevent",
            "--host", HOST, "--port", str(port)]  # fmt: skip
    body = json.dumps(event()).encode()
    began = time.monotonic()
    proc = ServiceProcess(f"bench-{target}", argv, logs / f"bench-{target}.log", env).start()
    try:
        while time.monotonic() - began < 60:
            if not proc.alive():
                return None  # exited before answering: it could not listen (see cold_start)
            request = urllib.request.Request(
                f"http://{HOST}:{port}/", data=body, method="POST",
                headers={"Content-Type": "application/cloudevents+json"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=30):
                    pass
            except urllib.error.HTTPError as err:
                if err.code >= 500:
                    raise RuntimeError(
                        f"{target} failed: {err.read()[:300]!r}; log {proc.log_path}"
                    ) from None
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
                # Not listening yet. (An HTTPException: a self-connection, see cold_start.)
                time.sleep(0.005)
                continue
            took = time.monotonic() - began
            return Start(took, peak_rss_mib(proc.pid), cpu_seconds(proc.pid))
        raise RuntimeError(f"{target} did not answer within 60 s; log {proc.log_path}")
    finally:
        proc.stop(grace_s=2)


def median_start(starts: list[Start]) -> Start:
    return Start(
        statistics.median(s.seconds for s in starts),
        max(s.peak_rss_mib for s in starts),
        statistics.median(s.cpu_seconds for s in starts),
    )
