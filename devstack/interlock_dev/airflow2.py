"""Local stack: Airflow 2.11 (REST API v1, basic auth) on 127.0.0.1, as `webserver` + `scheduler`.

Cloud Composer's default image in both generations is still Airflow 2.11, so interlock is tested
against it too. The shared lifecycle (migrate, start each component in its own session, wait
until healthy and the DAGs are parsed, stop by session) is `LocalAirflowBase`'s.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from interlock_dev.airflow import API_SECRET_KEY, VIEWER, LocalAirflowBase
from interlock_dev.processes import HOST


class LocalAirflow2(LocalAirflowBase):
    """Airflow 2.11 on 127.0.0.1:`port`: the REST API v1 with basic auth, an Admin user."""

    version = "2"
    api = "v1"
    leader = "webserver"

    def version_env(self) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
            "AIRFLOW__WEBSERVER__SECRET_KEY": API_SECRET_KEY,
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": HOST,
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
            "AIRFLOW__WEBSERVER__BASE_URL": self.base_url,
            "AIRFLOW__WEBSERVER__WORKERS": "1",
            # gunicorn replaces its workers every 30 s by default: needless churn here.
            "AIRFLOW__WEBSERVER__WORKER_REFRESH_BATCH_SIZE": "0",
            # New DAG files are listed every 5 minutes by default, and files re-parsed every 30 s.
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
            "AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE": "False",
            "PYTHONWARNINGS": "ignore",  # Airflow 2.11 warns about Airflow 3 on every import
        }

    def prepare(self, env: dict[str, str]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        def create(user: str, password: str, role: str) -> None:
            args = ["users", "create", "--username", user, "--password", password, "--role", role,
                    "--firstname", user, "--lastname", "local", "--email", f"{user}@interlock.local"]  # fmt: skip
            self._airflow(args, env, self.home / "logs" / f"users-create-{user}.log")

        # Each CLI call spends ~3 s importing Airflow and FAB: run both at once.
        users = [(self.username, self.password, "Admin"), (VIEWER, VIEWER, "Public")]
        with ThreadPoolExecutor(max_workers=len(users)) as pool:
            for done in [pool.submit(create, *user) for user in users]:
                done.result()

    def commands(self) -> dict[str, list[str]]:
        return {
            "webserver": [
                "webserver",
                "--port",
                str(self.port),
                "--hostname",
                HOST,
                "--workers",
                "1",
            ],
            "scheduler": ["scheduler", "--skip-serve-logs"],
        }

    def healthy(self, body: Mapping[str, Any]) -> bool:
        parts = ("metadatabase", "scheduler")
        return all((body.get(p) or {}).get("status") == "healthy" for p in parts)

    def authorization(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()
