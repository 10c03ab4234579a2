"""Local stack: start child services in their own process groups, on checked free ports, and
always stop the whole group (JVMs and Airflow fork workers that outlive a plain SIGTERM)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    # Also refuse a port someone listens on via another address family or SO_REUSEPORT.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) != 0


def port_offset() -> int:
    """`INTERLOCK_PORT_OFFSET` shifts every fixed range, so two checkouts on one machine (a
    test run beside another) never race for the same first free port."""
    raw = os.environ.get("INTERLOCK_PORT_OFFSET", "0")
    if not raw.isdigit() or int(raw) > 10_000:
        raise RuntimeError(
            f"INTERLOCK_PORT_OFFSET must be a whole number 0..10000, not {raw[:20]!r}"
        )
    return int(raw)


def free_port(
    start: int, tries: int = 200, taken: set[int] | None = None, shifted: bool = True
) -> int:
    """The first free port at or above `start` (fixed, high ranges keep runs reproducible).
    `shifted=False` for a start derived from a port already chosen (already offset)."""
    start += port_offset() if shifted else 0
    for port in range(start, start + tries):
        if taken is not None and port in taken:
            continue
        if port_is_free(port):
            if taken is not None:
                taken.add(port)
            return port
    raise RuntimeError(f"no free port in {start}..{start + tries - 1} on {HOST}")


def session_pids(sid: int) -> list[int]:
    """Live processes of session `sid` (children that left the process group keep the session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def kill_session(sid: int) -> None:
    """SIGKILL the group and every process still in the session (Airflow task runners setpgid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGKILL)
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (any address), from /proc/net/tcp and tcp6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def owns_port(proc: ServiceProcess, port: int) -> bool:
    """True when a process of `proc`'s session listens on `port`: what answers there is ours,
    not another stack's that won the port (without /proc, the benefit of the doubt)."""
    if not Path("/proc/net/tcp").exists() or proc.pid is None:
        return True
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    for pid in session_pids(proc.pid):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return True
    return False


class ServiceProcess:
    """One child service with its log file; `stop()` ends its whole process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM the whole group now, without waiting (`stop` waits and kills what is left)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session made the child its group's leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace_s)
        # Children (a JVM under its launcher script, Airflow task runners) may outlive the leader.
        kill_session(pgid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.proc = None


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, proc: ServiceProcess | None = None
) -> None:
    """Poll `check` until true; fail early with the log tail if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{what}: process exited early; log {proc.log_path}:\n{proc.log_tail()}"
            )
        time.sleep(0.1)
    tail = f"; log {proc.log_path}:\n{proc.log_tail()}" if proc else ""
    raise RuntimeError(f"{what}: not ready after {timeout_s:.0f}s{tail}")


def http_ok(url: str, timeout_s: float = 1.0, body_contains: str | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (loopback only)
            if resp.status >= 400:
                return False
            return body_contains is None or body_contains in resp.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        # HTTPException: something not speaking HTTP (another stack's process mid-start) answered.
        return False
