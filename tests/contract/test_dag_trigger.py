"""Contract: `DagTrigger` — the fake, Airflow 3 (REST v2) and Airflow 2.11 (REST v1) behave alike."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.adapters.airflow import RBAC_HINT, AirflowDagTrigger
from interlock.adapters.airflow_auth import PasswordLogin
from interlock.adapters.airflow_http import Http
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import FINISHED_RUN_STATES, DagRun, DagTrigger, FailedTask
from interlock_dev.airflow import JWT_SECRET, VIEWER
from interlock_dev.processes import HOST, free_port
from tests.fakes.dags import FakeDagTrigger
from tests.fixtures.airflow import VERSIONS
from tests.reliability.faulty_proxy import FaultyProxy

DAG = "interlock_noop"
PAUSED = "interlock_paused"


@dataclass
class Subject:
    trigger: DagTrigger
    runs: Callable[[str], dict[str, Mapping[str, object]]]  # run_id -> conf, as stored
    unreachable: Callable[[], DagTrigger]


def _real(airflow: Any, password: str | None = None, **options: Any) -> AirflowDagTrigger:
    auth = PasswordLogin(airflow.username, password or airflow.password)
    return AirflowDagTrigger(airflow.base_url, auth, **options)


def _nothing_listens() -> str:
    return f"http://{HOST}:{free_port(47380)}"


@pytest.fixture
def airflow(request: pytest.FixtureRequest) -> Any:
    """The session's Airflow of the version the test is parametrized with."""
    return request.getfixturevalue(f"airflow{request.param}")


@pytest.fixture(params=[pytest.param("fake", id="fake"), *VERSIONS])
def subject(request: pytest.FixtureRequest) -> Subject:
    if request.param == "fake":
        fake = FakeDagTrigger([DAG, PAUSED], paused=[PAUSED])

        def fake_unreachable() -> DagTrigger:
            down = FakeDagTrigger([DAG])
            down.unavailable = True
            return down

        def fake_runs(dag_id: str) -> dict[str, Mapping[str, object]]:
            return {r: run.conf for (d, r), run in fake.runs.items() if d == dag_id}

        return Subject(fake, fake_runs, fake_unreachable)
    airflow = request.getfixturevalue(f"airflow{request.param}")
    _failing_run(airflow)  # started early: Airflow runs it while the other tests go on

    def real_unreachable() -> DagTrigger:
        return AirflowDagTrigger(_nothing_listens(), PasswordLogin("admin", "admin"))

    def real_runs(dag_id: str) -> dict[str, Mapping[str, object]]:
        return {r["dag_run_id"]: r["conf"] for r in airflow.list_runs(dag_id)}

    return Subject(_real(airflow), real_runs, real_unreachable)


def _run_id() -> str:
    return f"interlock__test__{uuid.uuid4().hex}"


class TestDagTrigger:
    def test_creates_run_with_conf_when_run_id_is_new(self, subject: Subject) -> None:
        run_id = _run_id()
        conf = {"uri": "gs://bucket/data.csv#17", "sizes": (1, 2)}

        run = subject.trigger.trigger(DAG, run_id, conf)

        assert (run.dag_id, run.run_id, run.created) == (DAG, run_id, True)
        assert run.conf == {"uri": "gs://bucket/data.csv#17", "sizes": [1, 2]}
        assert subject.runs(DAG)[run_id] == {"uri": "gs://bucket/data.csv#17", "sizes": [1, 2]}

    def test_returns_existing_run_when_same_run_id_and_conf_arrive_twice(
        self, subject: Subject
    ) -> None:
        run_id = _run_id()
        first = subject.trigger.trigger(DAG, run_id, {"n": 1})

        again = subject.trigger.trigger(DAG, run_id, {"n": 1, "event_id": "another delivery"})

        assert (first.created, again.created) == (True, False)
        assert (again.run_id, again.conf) == (run_id, {"n": 1})
        assert list(subject.runs(DAG)).count(run_id) == 1

    def test_raises_permanent_when_same_run_id_arrives_with_different_conf(
        self, subject: Subject
    ) -> None:
        run_id = _run_id()
        subject.trigger.trigger(DAG, run_id, {"n": 1})

        with pytest.raises(PermanentError) as err:
            subject.trigger.trigger(DAG, run_id, {"n": 2})

        assert err.value.field == "run_id"
        assert subject.runs(DAG)[run_id] == {"n": 1}

    def test_raises_permanent_when_dag_is_unknown(self, subject: Subject) -> None:
        with pytest.raises(PermanentError) as err:
            subject.trigger.trigger("interlock_no_such_dag", _run_id(), {})

        assert err.value.field == "dag_id"
        assert "interlock_no_such_dag" in err.value.reason

    def test_queues_the_run_and_says_so_when_the_dag_is_paused(self, subject: Subject) -> None:
        run_id = _run_id()

        run = subject.trigger.trigger(PAUSED, run_id, {"n": 1})

        assert run.created and run.state.startswith("queued")
        assert "paused" in run.state
        assert run_id in subject.runs(PAUSED)

    def test_raises_transient_when_airflow_is_unreachable(self, subject: Subject) -> None:
        with pytest.raises(TransientError):
            subject.unreachable().trigger(DAG, _run_id(), {})


@pytest.mark.parametrize("airflow", VERSIONS, indirect=True)
class TestAirflowVersions:
    def test_auto_finds_the_api_of_the_running_airflow(self, airflow: Any) -> None:
        trigger = _real(airflow)

        assert trigger.api_version() == airflow.api
        assert trigger.trigger(DAG, _run_id(), {}).created

    def test_raises_permanent_as_one_readable_line_when_the_api_version_is_wrong(
        self, airflow: Any
    ) -> None:
        # Airflow 2's web server answers an HTML page for /api/v2/..., Airflow 3 JSON for /api/v1.
        wrong = "v1" if airflow.api == "v2" else "v2"

        with pytest.raises(PermanentError) as err:
            _real(airflow, api=wrong).trigger(DAG, _run_id(), {})

        reason = err.value.reason
        assert "\n" not in reason and "<" not in reason and len(reason) < 600
        assert airflow.base_url in reason or err.value.field == "dag_id"


@pytest.mark.parametrize("airflow", VERSIONS, indirect=True)
class TestAirflowDagTriggerAuth:
    def test_raises_permanent_without_leaking_password_when_password_is_wrong(
        self,
        airflow: Any,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG)
        secret = f"wrong-{uuid.uuid4().hex}"
        auth = PasswordLogin(airflow.username, secret)

        with pytest.raises(PermanentError) as err:
            AirflowDagTrigger(airflow.base_url, auth).trigger(DAG, _run_id(), {})

        message = str(err.value)
        assert airflow.username in message and airflow.base_url in message
        out, errs = capsys.readouterr()
        seen = [message, repr(err.value), repr(auth), caplog.text, out, errs]
        seen.append("".join(traceback.format_exception(err.value)))
        assert not [text for text in seen if secret in text]
        # Basic auth's base64 would hide the secret from a plain search: look for it too.
        encoded = base64.b64encode(f"{airflow.username}:{secret}".encode()).decode()
        assert not [text for text in seen if encoded in text]

    def test_raises_permanent_naming_the_rbac_role_when_the_user_may_not_trigger(
        self, airflow: Any
    ) -> None:
        viewer = AirflowDagTrigger(airflow.base_url, PasswordLogin(VIEWER, VIEWER))

        with pytest.raises(PermanentError) as err:
            viewer.trigger(DAG, _run_id(), {})

        assert err.value.field == "credentials"
        assert RBAC_HINT in err.value.reason and "'viewer'" in err.value.reason

    def test_reads_password_file_when_configured_by_env(self, airflow: Any, tmp_path: Path) -> None:
        secret_file = tmp_path / "airflow-password"
        secret_file.write_text(airflow.password + "\n")  # mounted secrets often end in a newline
        env = {"AIRFLOW_USERNAME": airflow.username, "AIRFLOW_PASSWORD_FILE": str(secret_file)}

        run = AirflowDagTrigger.from_env(airflow.base_url, env).trigger(DAG, _run_id(), {})

        assert run.created

    def test_uses_the_rotated_password_when_the_secret_file_changes(
        self, airflow: Any, tmp_path: Path
    ) -> None:
        secret_file = tmp_path / "airflow-password"
        secret_file.write_text("not-yet-rotated\n")
        env = {"AIRFLOW_USERNAME": airflow.username, "AIRFLOW_PASSWORD_FILE": str(secret_file)}
        trigger = AirflowDagTrigger.from_env(airflow.base_url, env)
        with pytest.raises(PermanentError):
            trigger.trigger(DAG, _run_id(), {})

        secret_file.write_text(airflow.password + "\n")

        assert trigger.trigger(DAG, _run_id(), {}).created

    def test_raises_transient_with_retry_after_when_airflow_answers_429_or_503(
        self, airflow: Any
    ) -> None:
        proxy = FaultyProxy(airflow.base_url)
        try:
            trigger = AirflowDagTrigger(
                proxy.url, PasswordLogin(airflow.username, airflow.password)
            )
            trigger.trigger(DAG, _run_id(), {})  # the probe and a first run pass
            proxy.mode = "429"
            with pytest.raises(TransientError) as busy:
                trigger.trigger(DAG, _run_id(), {})
            proxy.mode = "503"
            with pytest.raises(TransientError) as down:
                trigger.trigger(DAG, _run_id(), {})
            fresh = AirflowDagTrigger(proxy.url, PasswordLogin(airflow.username, airflow.password))
            with pytest.raises(TransientError):
                fresh.trigger(DAG, _run_id(), {})  # the version probe itself is retryable
        finally:
            proxy.close()
        assert busy.value.retry_after_s == 1.0
        assert "HTTP 503" in down.value.reason


class VanishingRunProxy:
    """Forwards to a real Airflow, but answers 404 to the first read of a single run: as if the
    run a 409 just reported were deleted before we read it back (a race no real call can pin)."""

    def __init__(self, upstream: str) -> None:
        self.hidden_once = True
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                if self.command == "GET" and "/dagRuns/" in self.path and proxy.hidden_once:
                    proxy.hidden_once = False
                    status, data = 404, b'{"detail": "DAGRun not found"}'
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    req = urllib.request.Request(
                        upstream + self.path, data=body, method=self.command, headers=headers
                    )
                    try:
                        with urllib.request.urlopen(req, timeout=30) as resp:
                            status, data = resp.status, resp.read()
                    except urllib.error.HTTPError as err:
                        status, data = err.code, err.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _relay

        self.server = ThreadingHTTPServer((HOST, free_port(47490)), Handler)
        self.url = f"http://{HOST}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("airflow", VERSIONS, indirect=True)
def test_retries_then_finds_the_run_when_it_vanished_between_the_409_and_the_read(
    airflow: Any,
) -> None:
    run_id = _run_id()
    _real(airflow).trigger(DAG, run_id, {"n": 1})
    proxy = VanishingRunProxy(airflow.base_url)
    try:
        trigger = AirflowDagTrigger(proxy.url, PasswordLogin(airflow.username, airflow.password))
        with pytest.raises(TransientError, match="vanished after a 409"):
            trigger.trigger(DAG, run_id, {"n": 1})

        again = trigger.trigger(DAG, run_id, {"n": 1})  # the redelivery
    finally:
        proxy.close()
    assert (again.created, again.conf) == (False, {"n": 1})


@pytest.mark.airflow
@pytest.mark.parametrize("stale", ["expired", "garbled"])
def test_fetches_new_jwt_once_when_cached_token_is_refused(airflow3: Any, stale: str) -> None:
    real = PasswordLogin(airflow3.username, airflow3.password)
    good = airflow3.token()
    # Airflow 3 answers 401 to an expired token and 403 to one it cannot verify.
    old = _expired(good, JWT_SECRET) if stale == "expired" else good[:-4] + "AAAA"
    forced: list[bool] = []

    class StaleFirst:
        def principal(self) -> str:
            return real.principal()

        def authorization(self, http: Http, api: str | None, *, force: bool = False) -> str | None:
            if api is None:
                return None
            forced.append(force)
            return real.authorization(http, api, force=True) if forced[1:] else f"Bearer {old}"

    run = AirflowDagTrigger(airflow3.base_url, StaleFirst()).trigger(DAG, _run_id(), {})

    assert run.created and forced[:2] == [False, True]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _expired(token: str, secret: str) -> str:
    """`token`'s claims, expired an hour ago, signed like Airflow signs (HS512)."""
    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    claims["nbf"] = claims["iat"]
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{_b64(signature)}"


class TestAirflowDagTriggerTimeouts:
    @pytest.fixture
    def silent_server(self) -> Iterator[str]:
        # Accepts connections (the kernel's backlog does) but never answers a byte.
        with socket.socket() as server:
            server.bind((HOST, free_port(47390)))
            server.listen(8)
            yield f"http://{HOST}:{server.getsockname()[1]}"

    @pytest.mark.parametrize("api", ["auto", "v1", "v2"])
    def test_raises_transient_when_airflow_does_not_answer_in_time(
        self, silent_server: str, api: str
    ) -> None:
        auth = PasswordLogin("admin", "admin")
        trigger = AirflowDagTrigger(
            silent_server, auth, api=api, connect_timeout_s=1, read_timeout_s=0.5
        )

        with pytest.raises(TransientError):
            trigger.trigger(DAG, _run_id(), {})

    def test_refuses_an_unknown_api_setting_naming_the_variable(self) -> None:
        with pytest.raises(PermanentError) as err:
            AirflowDagTrigger.from_env(
                "http://x",
                {"INTERLOCK_AIRFLOW_API": "v3", "AIRFLOW_USERNAME": "a", "AIRFLOW_PASSWORD": "b"},
            )

        assert err.value.field == "INTERLOCK_AIRFLOW_API"


FAILS = "interlock_fails"  # its one task `check` raises BadInput at once, with no retry
SETTLE_S = 90.0
_FAILING: dict[str, str] = {}  # Airflow base URL -> a run of FAILS triggered on first use


def _failing_run(airflow: Any) -> str:
    """A run of FAILS on this Airflow, triggered once and early: a run takes Airflow's scheduler
    10-20 s to start and fail, time the other contract tests of the session use meanwhile."""
    if airflow.base_url not in _FAILING:
        _FAILING[airflow.base_url] = run_id = _run_id()
        _real(airflow).trigger(FAILS, run_id, {"n": 1})
    return _FAILING[airflow.base_url]


@dataclass
class Reader:
    dags: DagTrigger
    settle: Callable[[str, str], DagRun]  # the run once Airflow has finished it
    unreachable: Callable[[], DagTrigger]
    failing_run: Callable[[], str]  # the id of a run of FAILS (triggered, maybe not ended yet)


@pytest.fixture(params=[pytest.param("fake", id="fake"), *VERSIONS])
def reader(request: pytest.FixtureRequest) -> Reader:
    if request.param == "fake":
        fake = FakeDagTrigger([DAG, FAILS])

        def fake_settle(dag_id: str, run_id: str) -> DagRun:
            if dag_id == FAILS:
                error = "BadInput: failing on purpose: the landed file lacks 3 column(s)"
                fake.finish(
                    dag_id, run_id, "failed", [FailedTask("check", "failed", 1, None, error)]
                )
            else:
                fake.finish(dag_id, run_id, "success")
            return fake.get_run(dag_id, run_id)

        def fake_unreachable() -> DagTrigger:
            down = FakeDagTrigger([DAG])
            down.unavailable = True
            return down

        def fake_failing_run() -> str:
            run_id = _run_id()
            fake.trigger(FAILS, run_id, {"n": 1})
            return run_id

        return Reader(fake, fake_settle, fake_unreachable, fake_failing_run)
    airflow = request.getfixturevalue(f"airflow{request.param}")
    real = _real(airflow)

    def real_settle(dag_id: str, run_id: str) -> DagRun:
        deadline = time.monotonic() + SETTLE_S
        while True:
            run = real.get_run(dag_id, run_id)
            if run.state in FINISHED_RUN_STATES or time.monotonic() > deadline:
                return run
            time.sleep(0.5)  # polling the scheduler's progress, not a timing assertion

    def real_unreachable() -> DagTrigger:
        return AirflowDagTrigger(_nothing_listens(), PasswordLogin("admin", "admin"))

    return Reader(real, real_settle, real_unreachable, lambda: _failing_run(airflow))


class TestDagRunReader:
    def test_get_run_returns_the_run_and_its_conf_when_it_was_triggered(
        self, reader: Reader
    ) -> None:
        run_id = _run_id()
        reader.dags.trigger(DAG, run_id, {"uri": "gs://b/o#1"})

        run = reader.dags.get_run(DAG, run_id)

        assert (run.dag_id, run.run_id, run.created) == (DAG, run_id, False)
        assert run.state in {"queued", "running", "success"}
        assert run.conf == {"uri": "gs://b/o#1"}

    def test_get_run_names_the_failed_task_and_its_error_when_the_run_failed(
        self, reader: Reader
    ) -> None:
        run_id = reader.failing_run()

        run = reader.settle(FAILS, run_id)

        assert run.state == "failed"
        assert [(t.task_id, t.state, t.try_number) for t in run.failed_tasks] == [
            ("check", "failed", 1)
        ]
        error = run.failed_tasks[0].error or ""
        assert "BadInput: failing on purpose" in error and "\n" not in error

    def test_get_run_is_permanent_naming_the_run_when_it_does_not_exist(
        self, reader: Reader
    ) -> None:
        with pytest.raises(PermanentError) as err:
            reader.dags.get_run(DAG, "never-triggered")

        assert err.value.field == "run_id"
        assert "never-triggered" in err.value.reason

    def test_get_run_is_transient_when_airflow_is_unreachable(self, reader: Reader) -> None:
        with pytest.raises(TransientError):
            reader.unreachable().get_run(DAG, _run_id())
