"""Local stack: a real Airflow on 127.0.0.1 — Airflow 3 (REST v2) or Airflow 2.11 (REST v1).

Each lives in its own venv (`make install-airflow`, `make install-airflow2`): their pins clash
with ours and with each other. We start the components ourselves, each in its own session,
instead of `airflow standalone`, which orphans dozens of processes on SIGTERM, and stop them by
session so task runners (which move to their own process group) go too.

- Airflow 3: `api-server`, `scheduler`, `dag-processor`; LocalExecutor; JWT login.
- Airflow 2 (interlock_dev.airflow2): `webserver` (gunicorn, one worker) and `scheduler`
  (parses DAGs itself); SequentialExecutor, the only one Airflow 2 runs on SQLite; basic auth.
"""

from __future__ import annotations

import contextlib
import functools
import json
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
    owns_port,
    session_pids,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ("3", "2")
VENV_ENV = {"3": "INTERLOCK_AIRFLOW_VENV", "2": "INTERLOCK_AIRFLOW2_VENV"}
VENV_DIR = {"3": ".venv-airflow", "2": ".venv-airflow2"}
INSTALL_HINT = {"3": "run `make install-airflow`", "2": "run `make install-airflow2`"}

USERNAME = "admin"
PASSWORD = "admin"  # noqa: S105 (a throwaway local instance; the passwords file says the same)
# A second user who may sign in but not trigger (Airflow 3 role viewer, Airflow 2 role Public,
# the only other role before the web server syncs them): a function identity without the right
# Airflow role looks like (tests check the 403 names the fix).
VIEWER = "viewer"
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


def airflow_venv(version: str = "3") -> Path:
    """The venv of Airflow `version`: $INTERLOCK_AIRFLOW_VENV (3) / $INTERLOCK_AIRFLOW2_VENV (2),
    else `<repo>/.venv-airflow` / `<repo>/.venv-airflow2`."""
    venv = Path(os.environ.get(VENV_ENV[version]) or REPO_ROOT / VENV_DIR[version])
    if not (venv / "bin" / "airflow").exists():
        raise AirflowNotInstalled(
            f"no Airflow {version} at {venv}/bin/airflow: {INSTALL_HINT[version]}"
        )
    return venv


def local_airflow(
    version: str,
    home: Path,
    dags_folder: Path,
    port: int,
    venv: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> LocalAirflowBase:
    """Airflow `version` ("3" or "2"), not started yet."""
    from interlock_dev.airflow2 import LocalAirflow2

    if version not in VERSIONS:
        raise ValueError(f"Airflow version {version!r}: expected one of {VERSIONS}")
    kind = LocalAirflow if version == "3" else LocalAirflow2
    return kind(home, dags_folder, port, venv or airflow_venv(version), extra_env)


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class LocalAirflowBase:
    """What both versions share: env, migrate-then-start, readiness, REST reads, stopping."""

    version = ""
    api = ""  # REST API path segment: "v2" (Airflow 3) or "v1" (Airflow 2)
    username = USERNAME
    password = PASSWORD
    leader = ""  # the component serving the REST API

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
        self.venv = venv or airflow_venv(self.version)
        self.extra_env = dict(extra_env or {})
        self.base_url = f"http://{HOST}:{port}"
        self.services: list[ServiceProcess] = []
        self.started_s: float | None = None  # seconds from start() to wait_ready() returning
        self._t0 = 0.0

    # -- to specialise ---------------------------------------------------------------------
    def version_env(self) -> dict[str, str]:
        raise NotImplementedError

    def commands(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def prepare(self, env: dict[str, str]) -> None:
        """After `db migrate`, before the components start."""

    def authorization(self) -> str:
        raise NotImplementedError

    def healthy(self, body: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        taken = {self.port}
        worker_log_port = free_port(self.port + 1, taken=taken, shifted=False)
        trigger_log_port = free_port(worker_log_port + 1, taken=taken, shifted=False)
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
                "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
                "AIRFLOW__CORE__PARALLELISM": "2",  # the default starts 32 idle workers
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            }
        )
        env.update(self.version_env())
        env.update(self.extra_env)
        return env

    def _airflow(self, args: list[str], env: dict[str, str], log: Path) -> None:
        with log.open("wb") as out:
            rc = subprocess.run(
                [str(self.venv / "bin" / "airflow"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=300,
                check=False,
            ).returncode
        if rc != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"airflow {args[0]} {args[1]} failed ({rc}); log {log}:\n{tail}")

    def start(self) -> LocalAirflowBase:
        self._t0 = time.monotonic()
        self._token: tuple[str, float] | None = None  # a restarted Airflow signs anew
        self.home.mkdir(parents=True, exist_ok=True)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        env = self.env()
        self._airflow(["db", "migrate"], env, logs / "db-migrate.log")
        self.prepare(env)
        airflow = str(self.venv / "bin" / "airflow")
        try:
            for name, args in self.commands().items():
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
        health = (
            f"{self.base_url}/api/{self.api}/{'monitor/health' if self.api == 'v2' else 'health'}"
        )
        leader = self._service(self.leader)
        wait_until(  # the answer must come from this instance's own server, not another's
            lambda: http_ok(health) and owns_port(leader, self.port),
            timeout_s, f"airflow {self.leader}", leader,
        )  # fmt: skip

        def all_healthy() -> bool:
            for service in self.services:
                if not service.alive():
                    raise RuntimeError(
                        f"{service.name} exited; log {service.log_path}:\n{service.log_tail()}"
                    )
            return self.healthy(self._get_json(health.removeprefix(self.base_url), auth=False))

        wait_until(all_healthy, timeout_s, f"airflow {self.version} components healthy")
        parser = self.services[-1]  # the component that parses DAG files
        for dag_id in dag_ids:
            wait_until(
                functools.partial(self._dag_parsed, dag_id),
                timeout_s,
                f"DAG {dag_id} parsed",
                parser,
            )
        self.started_s = time.monotonic() - self._t0

    def _dag_parsed(self, dag_id: str) -> bool:
        try:
            self._get_json(f"/api/{self.api}/dags/{urllib.parse.quote(dag_id, safe='')}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise
        return True

    def _get_json(self, path: str, auth: bool = True) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = self.authorization()
        req = urllib.request.Request(f"{self.base_url}{path}", headers=headers)  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback only)
            data: dict[str, Any] = json.load(resp)
        return data

    def list_runs(self, dag_id: str) -> list[Mapping[str, Any]]:
        """Every run of `dag_id`, oldest first, straight from the REST API (for assertions)."""
        order = "run_after" if self.api == "v2" else "execution_date"
        base = f"/api/{self.api}/dags/{urllib.parse.quote(dag_id, safe='')}/dagRuns?limit=100&order_by={order}"
        runs: list[Mapping[str, Any]] = []
        while True:  # the API pages at 100
            page = self._get_json(f"{base}&offset={len(runs)}")
            runs.extend(page["dag_runs"])
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def import_errors(self) -> list[Mapping[str, Any]]:
        """DAG files Airflow could not import (`/importErrors`, the same in v1 and v2)."""
        errors: list[Mapping[str, Any]] = self._get_json(f"/api/{self.api}/importErrors")[
            "import_errors"
        ]
        return errors

    def pids(self) -> list[int]:
        return [pid for s in self.services if s.pid for pid in session_pids(s.pid)]

    def rss_bytes(self) -> int:
        """Sum of RSS over every process we started (forked children share pages: an upper bound)."""
        return sum(_rss_bytes(pid) for pid in self.pids())

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the leaders so each shuts its children down, then kill whatever is left.

        The scheduler's SIGTERM waits for every task already handed to its executor, and they
        stall once the API server is gone: a short grace, then SIGKILL, is the useful stop.
        """
        for service in self.services:
            if service.proc is not None and service.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(service.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for service in self.services:
            if service.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        sessions = [s.pid for s in self.services if s.pid]
        for service in self.services:
            service.stop(grace_s=0.5)  # kills its whole session, task runners included
        # SIGKILL is asynchronous: return only once nothing of ours is still running.
        with contextlib.suppress(RuntimeError):
            wait_until(lambda: not any(session_pids(sid) for sid in sessions), 5.0, "stop")
        self.services.clear()

    def __enter__(self) -> LocalAirflowBase:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalAirflow(LocalAirflowBase):
    """Airflow 3 on 127.0.0.1:`port`, state under `home`, DAGs from `dags_folder`.

    `extra_env` is added last (e.g. `AIRFLOW_VAR_*` variables the DAGs read).
    """

    version = "3"
    api = "v2"
    leader = "api-server"

    def version_env(self) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin,{VIEWER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / PASSWORDS_FILE),
            "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRFLOW__API__SECRET_KEY": API_SECRET_KEY,
            # Task runners call the execution API at {base_url}/execution/; the default is
            # localhost:8080, so without this every task fails on any other port.
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }

    def prepare(self, env: dict[str, str]) -> None:
        passwords = {USERNAME: PASSWORD, VIEWER: VIEWER}
        (self.home / PASSWORDS_FILE).write_text(json.dumps(passwords) + "\n")

    def commands(self) -> dict[str, list[str]]:
        return {
            "api-server": ["api-server", "--port", str(self.port), "--host", HOST],
            # The log server binds every interface and costs ~135 MiB; the api-server reads
            # task logs from the shared local files anyway.
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
        }

    def healthy(self, body: Mapping[str, Any]) -> bool:
        parts = ("metadatabase", "scheduler", "dag_processor")
        return all((body.get(p) or {}).get("status") == "healthy" for p in parts)

    def token(self) -> str:
        """A JWT for the admin user (POST /auth/token answers 201 {"access_token": ...}), reused for
        ten minutes: a token per call made every test poll pay Airflow's password check, which
        takes seconds on a loaded machine (Airflow's tokens last a day by default)."""
        cached: tuple[str, float] | None = getattr(self, "_token", None)
        if cached is not None and time.monotonic() < cached[1]:
            return str(cached[0])
        body = json.dumps({"username": self.username, "password": self.password}).encode()
        req = urllib.request.Request(  # noqa: S310 (loopback only)
            f"{self.base_url}/auth/token",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            token: str = json.load(resp)["access_token"]
        self._token = (token, time.monotonic() + 600)
        return token

    def authorization(self) -> str:
        return f"Bearer {self.token()}"
