"""Local stack: a real Airflow 3 (SQLite, LocalExecutor) as three processes on chosen ports.

Airflow lives in its own venv (`make install-airflow`): its pins clash with ours. We start
`api-server`, `scheduler` and `dag-processor` ourselves instead of `airflow standalone`, which
orphans dozens of processes on SIGTERM, and stop them by session so task runners (which move to
their own process group) go too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interlock_dev.processes import (
    HOST,
    ServiceProcess,
    free_port,
    http_ok,
    session_pids,
    wait_until,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_ENV = "INTERLOCK_AIRFLOW_VENV"
INSTALL_HINT = "run `make install-airflow`"

USERNAME = "admin"
PASSWORD = "admin"  # noqa: S105 (a throwaway local instance; the passwords file says the same)
# Fixed so tokens and encrypted connections survive a restart of any one process. Local only.
# 64+ bytes: PyJWT warns on shorter HMAC keys for the SHA-512 that Airflow signs with.
JWT_SECRET = "interlock-local-jwt-secret-for-tests-only-" + "x" * 32
API_SECRET_KEY = "interlock-local-api-secret-key"  # noqa: S105
FERNET_KEY = "aW50ZXJsb2NrLWxvY2FsLWZlcm5ldC1rZXktMzJieXQ="  # urlsafe b64 of 32 bytes
# The simple auth manager reads (and on first start generates) this file in AIRFLOW_HOME
# (SimpleAuthManager.get_generated_password_file in Airflow 3.3); pre-writing it fixes the password.
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


class AirflowNotInstalled(RuntimeError):
    pass


def airflow_venv() -> Path:
    """The Airflow venv: $INTERLOCK_AIRFLOW_VENV, else `<repo>/.venv-airflow`."""
    venv = Path(os.environ.get(VENV_ENV) or REPO_ROOT / ".venv-airflow")
    if not (venv / "bin" / "airflow").exists():
        raise AirflowNotInstalled(f"no Airflow at {venv}/bin/airflow: {INSTALL_HINT}")
    return venv


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class LocalAirflow:
    """Airflow 3 on 127.0.0.1:`port`, state under `home`, DAGs from `dags_folder`.

    `extra_env` is added last (e.g. `AIRFLOW_VAR_*` variables the DAGs read).
    """

    username = USERNAME
    password = PASSWORD

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        port: int,
        venv: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = port
        self.venv = venv or airflow_venv()
        self.extra_env = dict(extra_env or {})
        self.base_url = f"http://{HOST}:{port}"
        self.services: list[ServiceProcess] = []
        self.started_s: float | None = None  # seconds from start() to wait_ready() returning
        self._t0 = 0.0

    def env(self) -> dict[str, str]:
        taken = {self.port}
        worker_log_port = free_port(self.port + 1, taken=taken)
        trigger_log_port = free_port(worker_log_port + 1, taken=taken)
        # Inherited AIRFLOW__* or PYTHONPATH would leak the caller's config into the instance.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        }
        env.update(
            {
                "PATH": f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
                "VIRTUAL_ENV": str(self.venv),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                    self.home / PASSWORDS_FILE
                ),
                "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
                "AIRFLOW__API__SECRET_KEY": API_SECRET_KEY,
                "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
                # Task runners call the execution API at {base_url}/execution/; the default
                # is localhost:8080, so without this every task fails on any other port.
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__PARALLELISM": "2",  # the default starts 32 idle workers
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LocalAirflow:
        self._t0 = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / PASSWORDS_FILE).write_text(json.dumps({USERNAME: PASSWORD}) + "\n")
        env = self.env()
        airflow = str(self.venv / "bin" / "airflow")
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        migrate_log = logs / "db-migrate.log"
        with migrate_log.open("wb") as out:
            rc = subprocess.run(
                [airflow, "db", "migrate"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=300,
                check=False,
            ).returncode
        if rc != 0:
            tail = "\n".join(migrate_log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"airflow db migrate failed ({rc}); log {migrate_log}:\n{tail}")
        commands = {
            "api-server": ["api-server", "--port", str(self.port), "--host", HOST],
            # The log server binds every interface and costs ~135 MiB; the api-server reads
            # task logs from the shared local files anyway.
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
        }
        try:
            for name, args in commands.items():
                service = ServiceProcess(
                    f"airflow-{name}", [airflow, *args], logs / f"{name}.log", env
                )
                self.services.append(service.start())
        except BaseException:
            self.stop()
            raise
        return self

    def _service(self, name: str) -> ServiceProcess:
        return next(s for s in self.services if s.name == f"airflow-{name}")

    def wait_ready(self, dag_ids: Sequence[str] = (), timeout_s: float = 120.0) -> None:
        """Health says every component is healthy, then each DAG in `dag_ids` is parsed."""
        api = self._service("api-server")
        health = f"{self.base_url}/api/v2/monitor/health"
        wait_until(lambda: http_ok(health), timeout_s, "airflow api-server", api)

        def all_healthy() -> bool:
            for service in self.services:
                if not service.alive():
                    raise RuntimeError(
                        f"{service.name} exited; log {service.log_path}:\n{service.log_tail()}"
                    )
            body = self._get_json("/api/v2/monitor/health", auth=False)
            parts = ("metadatabase", "scheduler", "dag_processor")
            return all((body.get(p) or {}).get("status") == "healthy" for p in parts)

        wait_until(all_healthy, timeout_s, "airflow scheduler and dag-processor")
        token = self.token()
        processor = self._service("dag-processor")
        for dag_id in dag_ids:
            wait_until(
                functools.partial(self._dag_parsed, dag_id, token),
                timeout_s,
                f"DAG {dag_id} parsed",
                processor,
            )
        self.started_s = time.monotonic() - self._t0

    def _dag_parsed(self, dag_id: str, token: str) -> bool:
        try:
            self._get_json(f"/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}", token=token)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise
        return True

    def token(self) -> str:
        """A JWT for the admin user (POST /auth/token answers 201 {"access_token": ...})."""
        body = json.dumps({"username": self.username, "password": self.password}).encode()
        req = urllib.request.Request(  # noqa: S310 (loopback only)
            f"{self.base_url}/auth/token",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            token: str = json.load(resp)["access_token"]
        return token

    def _get_json(self, path: str, token: str | None = None, auth: bool = True) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {token or self.token()}"
        req = urllib.request.Request(f"{self.base_url}{path}", headers=headers)  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            data: dict[str, Any] = json.load(resp)
        return data

    def list_runs(self, dag_id: str) -> list[Mapping[str, Any]]:
        """Every run of `dag_id`, straight from the REST API (for assertions in tests)."""
        base = f"/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}/dagRuns?limit=100&order_by=run_after"
        runs: list[Mapping[str, Any]] = []
        while True:  # the API pages at 100
            page = self._get_json(f"{base}&offset={len(runs)}")
            runs.extend(page["dag_runs"])
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def _signal_leaders(self) -> None:
        for service in self.services:
            if service.proc is not None and service.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(service.proc.pid, signal.SIGTERM)

    def pids(self) -> list[int]:
        return [pid for s in self.services if s.pid for pid in session_pids(s.pid)]

    def rss_bytes(self) -> int:
        """Sum of RSS over every process we started (forked children share pages: an upper bound)."""
        return sum(_rss_bytes(pid) for pid in self.pids())

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the leaders so each shuts its children down, then kill whatever is left.

        The scheduler's SIGTERM waits for every task already handed to its LocalExecutor, and
        they stall once the api-server is gone: a short grace, then SIGKILL, is the useful stop.
        """
        self._signal_leaders()
        deadline = time.monotonic() + grace_s
        for service in self.services:
            if service.proc is not None:
                try:
                    service.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.info(
                        "%s still running %.0f s after SIGTERM; killing it", service.name, grace_s
                    )
        sessions = [s.pid for s in self.services if s.pid]
        for service in self.services:
            service.stop(grace_s=0.5)  # kills its whole session, task runners included
        # SIGKILL is asynchronous: return only once nothing of ours is still running.
        with contextlib.suppress(RuntimeError):
            wait_until(lambda: not any(session_pids(sid) for sid in sessions), 5.0, "stop")
        self.services.clear()

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
