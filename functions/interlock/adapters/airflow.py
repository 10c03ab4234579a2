"""Adapters layer: start DAG runs over Airflow's REST API — v1 (Airflow 2) or v2 (Airflow 3).

A DAG run id is our idempotency key: a 409 on it means an earlier delivery already created the
run, which we read back and compare. Both versions take the same body but for `logical_date`:
v2 requires the key (null = "no logical date", AIP-83); v1 rejects a null and picks "now" when
it is omitted, which avoids two runs colliding on a logical date derived from the event.
Vendor failures become `TransientError` (retry) or `PermanentError` (dead-letter).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from interlock.adapters.airflow_auth import AuthSource, GoogleTokenSource, PasswordLogin
from interlock.adapters.airflow_http import Answer, Http
from interlock.core.errors import PermanentError, TransientError
from interlock.core.text import one_line
from interlock.log import log
from interlock.ports import DagRun, FailedTask, same_run_conf

API_ENV = "INTERLOCK_AIRFLOW_API"
APIS = ("auto", "v1", "v2")
RBAC_HINT = "check the Airflow RBAC role of the function's identity"
TASKS_LIMIT = 10  # failed tasks read back per run
LOG_TAIL = 65536  # characters of a task log searched for its error
LOG_RECORDS = 500  # structured log records searched


class AirflowDagTrigger:
    """The `DagTrigger` port on Airflow's REST API; `api` is "v1", "v2" or "auto" (probe
    `/api/v2/version`, then `/api/v1/version`, once for the life of this object)."""

    def __init__(
        self,
        base_url: str,
        auth: AuthSource,
        *,
        api: str = "auto",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
    ) -> None:
        if api not in APIS:
            raise PermanentError(API_ENV, f"is {api!r}; expected one of {', '.join(APIS)}")
        self.http = Http(
            base_url, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s
        )
        self.base_url = self.http.base_url
        self.auth = auth
        self._api = None if api == "auto" else api
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, base_url: str, env: Mapping[str, str] | None = None) -> AirflowDagTrigger:
        """`AIRFLOW_USERNAME` + `AIRFLOW_PASSWORD` or `AIRFLOW_PASSWORD_FILE` → password login
        (JWT on Airflow 3, basic auth on Airflow 2); no username → the function's Google
        identity (Cloud Composer). `INTERLOCK_AIRFLOW_API`: auto (default), v1 or v2."""
        env = os.environ if env is None else env
        username = env.get("AIRFLOW_USERNAME")
        auth: AuthSource
        if username:
            file = env.get("AIRFLOW_PASSWORD_FILE")
            auth = PasswordLogin(
                username, env.get("AIRFLOW_PASSWORD"), Path(file) if file else None
            )
        else:
            auth = GoogleTokenSource()
        api = (env.get(API_ENV) or "auto").strip().lower()
        return cls(base_url, auth, api=api)

    # -- which API -------------------------------------------------------------------------
    def api_version(self) -> str:
        """ "v1" or "v2": as configured, or probed once (a failed probe is retried next call)."""
        with self._lock:
            if self._api is None:
                self._api = self._probe()
                log("INFO", "airflow api version", airflow=self.base_url, api=self._api)
            return self._api

    def _probe(self) -> str:
        header = self.auth.authorization(self.http, None)
        headers = {"Authorization": header} if header else {}
        answers = {}
        for api in ("v2", "v1"):
            answer = self.http.send(
                "GET", f"/api/{api}/version", "probe the Airflow API", headers=headers
            )
            answers[api] = answer.status
            # A 401/403 still proves the route exists (the answer of an API, not a 404 page).
            if answer.status in (200, 401, 403):
                return api
            if answer.status == 429 or answer.status >= 500:
                raise TransientError(
                    f"probe the Airflow API at {self.base_url}: HTTP {answer.status}",
                    retry_after_s=answer.retry_after_s(),
                )
            if 300 <= answer.status < 400:
                raise self._redirected(answer)
        raise PermanentError(
            "INTERLOCK_AIRFLOW_URL",
            f"{self.base_url} is not an Airflow API server: /api/v2/version answered "
            f"HTTP {answers['v2']}, /api/v1/version HTTP {answers['v1']}",
        )

    # -- one call --------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, what: str, body: Mapping[str, object] | None = None
    ) -> Answer:
        """Send with our credentials; if they are refused, fetch fresh ones and send once more
        (an expired or rotated JWT, a re-read password file, a refreshed Google token)."""
        api = self.api_version()
        for attempt in (0, 1):
            header = self.auth.authorization(self.http, api, force=attempt > 0)
            headers = {"Authorization": header} if header else {}
            answer = self.http.send(method, f"/api/{api}{path}", what, body=body, headers=headers)
            if answer.status not in (401, 403):
                return answer
            if attempt == 0:
                log("INFO", "airflow refused the credentials; fetching new ones",
                    airflow=self.base_url, status=answer.status, action=what)  # fmt: skip
        raise PermanentError(
            "credentials",
            f"Airflow at {self.base_url} refused {self.auth.principal()} to {what} "
            f"(HTTP {answer.status}: {answer.detail()}): {RBAC_HINT}",
        )

    def _redirected(self, answer: Answer) -> PermanentError:
        location = one_line((answer.headers or {}).get("Location") or "", 200)
        return PermanentError(
            "INTERLOCK_AIRFLOW_URL",
            f"{self.base_url} redirected to {location!r} (HTTP {answer.status}): "
            "not the Airflow API server, or a login page in front of it",
        )

    def _error(self, what: str, dag_id: str, answer: Answer) -> Exception:
        status = answer.status
        if status == 404 and isinstance(answer.json(), dict) and answer.detail() != "Not Found":
            return PermanentError("dag_id", f"Airflow has no DAG {dag_id!r}: {answer.detail()}")
        if status in (404, 405):
            # No such route: another Airflow version's API, or not Airflow at all.
            return PermanentError(
                "INTERLOCK_AIRFLOW_URL",
                f"{what} of DAG {dag_id!r}: {self.base_url} has no REST API {self.api_version()} "
                f"(HTTP {status}: {answer.detail()}); set {API_ENV}=auto or the right version",
            )
        if status == 429 or status >= 500:
            return TransientError(
                f"{what} of DAG {dag_id!r}: HTTP {status}: {answer.detail()}",
                retry_after_s=answer.retry_after_s(),
            )
        if 300 <= status < 400:
            return self._redirected(answer)
        detail = answer.detail()
        # 400 "Dag with dag_id ... has import errors / does not allow manual runs" is the DAG's
        # fault; other 400s and 422s are the body's (params validation).
        field = "dag_id" if detail.lower().startswith("dag with dag_id") else "conf"
        return PermanentError(field, f"{what} of DAG {dag_id!r}: HTTP {status}: {detail}")

    # -- the port --------------------------------------------------------------------------
    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        body: dict[str, object] = {"dag_run_id": run_id, "conf": dict(conf)}
        if self.api_version() == "v2":
            body["logical_date"] = None
        dag = quote(dag_id, safe="")
        answer = self._call("POST", f"/dags/{dag}/dagRuns", "trigger a run", body)
        if answer.status == 200:
            run = self._dag_run(dag_id, run_id, answer, created=True)
            log("INFO", "airflow run created", dag_id=dag_id, run_id=run_id)
        elif answer.status == 409:
            run = self._existing(dag_id, run_id, conf)
        else:
            raise self._error("trigger a run", dag_id, answer)
        return self._with_pause_note(run)

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        """The run now; a failed one with its failed tasks (best effort: the state is what
        counts, a failed read of the tasks leaves them out)."""
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        answer = self._call("GET", path, "read a run")
        if answer.status == 404 and isinstance(answer.json(), dict):
            raise PermanentError(
                "run_id", f"Airflow has no run {run_id!r} of DAG {dag_id!r}: {answer.detail()}"
            )
        if answer.status != 200:
            raise self._error("read a run", dag_id, answer)
        run = self._dag_run(dag_id, run_id, answer, created=False)
        if run.state != "failed":
            return run
        try:
            failed = self._failed_tasks(path, dag_id)
        except (TransientError, PermanentError) as err:
            log("WARNING", "airflow failed tasks not read", dag_id=dag_id, run_id=run_id,
                reason=err.reason)  # fmt: skip
            return run
        return replace(run, failed_tasks=failed)

    def _failed_tasks(self, run_path: str, dag_id: str) -> tuple[FailedTask, ...]:
        answer = self._call(
            "GET", f"{run_path}/taskInstances?state=failed&limit={TASKS_LIMIT}", "read the tasks"
        )
        if answer.status != 200:
            raise self._error("read the tasks", dag_id, answer)
        parsed: Any = answer.json()
        rows = parsed.get("task_instances") if isinstance(parsed, dict) else None
        failed = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or row.get("state") != "failed":
                continue
            task_id = one_line(str(row.get("task_id", "?")), 250)
            tries = row.get("try_number")
            try_number = tries if isinstance(tries, int) else None
            failed.append(
                FailedTask(
                    task_id=task_id,
                    state="failed",
                    try_number=try_number,
                    note=_text(row.get("note")),
                    error=self._last_error(run_path, task_id, try_number),
                )
            )
        return tuple(failed[:TASKS_LIMIT])

    def _last_error(self, run_path: str, task_id: str, try_number: int | None) -> str | None:
        """The exception line of the task's log (`BadInput: the landed file lacks …`): best
        effort, bounded (the last LOG_TAIL characters), one printable line."""
        if not try_number:
            return None
        path = f"{run_path}/taskInstances/{quote(task_id, safe='')}/logs/{try_number}"
        try:
            answer = self._call("GET", path + "?full_content=false", "read a task log")
        except (TransientError, PermanentError):
            return None
        if answer.status != 200:
            return None
        return last_error_line(answer)

    def _existing(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        answer = self._call("GET", path, "read a run")
        if answer.status == 404:
            # 409 said it exists: it was deleted in between, or (v1) another run holds the same
            # logical date. Retrying will create it, or find it.
            raise TransientError(f"run {run_id!r} of DAG {dag_id!r} vanished after a 409")
        if answer.status != 200:
            raise self._error("read a run", dag_id, answer)
        run = self._dag_run(dag_id, run_id, answer, created=False)
        # Compare as JSON: a tuple we send comes back as a list.
        if not same_run_conf(conf, run.conf):
            raise PermanentError(
                "run_id",
                f"run {run_id!r} of DAG {dag_id!r} already exists with a different conf",
            )
        log("INFO", "airflow run already exists", dag_id=dag_id, run_id=run_id)
        return run

    def _with_pause_note(self, run: DagRun) -> DagRun:
        """Airflow queues a run of a paused DAG without a word; say so in the run's state, so the
        outcome tells why nothing happens. Best effort: the run exists either way."""
        if run.state != "queued":
            return run
        try:
            answer = self._call("GET", f"/dags/{quote(run.dag_id, safe='')}", "read the DAG")
        except (TransientError, PermanentError):
            return run
        parsed = answer.json() if answer.status == 200 else None
        if not (isinstance(parsed, dict) and parsed.get("is_paused") is True):
            return run
        log("WARNING", "airflow DAG is paused: the run waits until it is unpaused",
            dag_id=run.dag_id, run_id=run.run_id)  # fmt: skip
        state = "queued; the DAG is paused in Airflow: it runs once unpaused"
        return DagRun(run.dag_id, run.run_id, state, run.conf, run.created)

    @staticmethod
    def _dag_run(dag_id: str, run_id: str, answer: Answer, *, created: bool) -> DagRun:
        # Read leniently so a newer Airflow's extra states or fields don't break us: we need
        # only the state and the conf, named the same in v1 and v2.
        run: Any = answer.json()
        if not isinstance(run, dict):
            raise TransientError(f"unreadable Airflow answer for run {run_id!r}")
        conf = run.get("conf")
        return DagRun(
            dag_id=str(run.get("dag_id", dag_id)),
            run_id=str(run.get("dag_run_id", run_id)),
            state=str(run.get("state", "")),
            conf=conf if isinstance(conf, dict) else {},
            created=created,
            end_date=_time(run.get("end_date")),
            note=_text(run.get("note")),
        )


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return one_line(value, 500) or None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# `SomeError: message` or `pkg.mod.BadInput: message`, as a traceback's last line says it (the
# DAGs in dags/ raise BadInput and BadConf, whose names end in neither Error nor Exception).
EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Input|Conf)\w*: \S")


def last_error_line(answer: Answer) -> str | None:
    """The last exception line in a task log answer: Airflow 3 gives structured records
    (`content`: a list of {event, ...}), Airflow 2 text (`content`: a string)."""
    parsed: Any = answer.json()
    content = parsed.get("content") if isinstance(parsed, dict) else None
    if content is None:
        content = answer.body[-LOG_TAIL:].decode(errors="replace")
    lines: list[str] = []
    if isinstance(content, list):
        for record in content[-LOG_RECORDS:]:
            if isinstance(record, dict):
                lines.extend(str(record.get("event", "")).splitlines())
                for frame in record.get("error_detail") or []:
                    if isinstance(frame, dict) and frame.get("exc_type"):
                        lines.append(f"{frame.get('exc_type')}: {frame.get('exc_value', '')}")
            else:
                lines.extend(str(record).splitlines())
    else:
        lines = str(content)[-LOG_TAIL:].replace("\\n", "\n").splitlines()
    for line in reversed(lines):
        if EXCEPTION_LINE.match(line):
            return one_line(line.strip(), 500)
    return None
