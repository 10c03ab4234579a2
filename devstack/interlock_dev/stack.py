"""Local stack: the whole loop on 127.0.0.1 — Pub/Sub emulator, the functions under
functions-framework, Airflow 3 with `dags/`, the Vertex AI / Cloud Run stand-in, and a ticker
(Cloud Scheduler's stand-in) feeding `on_tick`.

Without Java or the emulator, events are posted straight to the functions as CloudEvents and
outcomes go to a JSON Lines file; everything else is the same.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interlock import topics
from interlock.cli.replay import HOLD
from interlock.local_stack import LOCAL_PROJECT, STATE_FILE, running
from interlock_dev.processes import (
    HOST,
    ServiceProcess,
    free_port,
    http_ok,
    owns_port,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
PROJECT = LOCAL_PROJECT
REGION = "us-central1"
SERVICE = "churn"
FUNCTIONS = (
    "on_data_landed",
    "on_model_evaluated",
    "on_model_observed",
    "on_request",
    "on_dead_letter",
    "on_tick",
    "on_alert",
)
PORT_TRIES = 3  # a port lost to another stack's race is replaced by the next free one
TICK_PERIOD_S = 10.0  # Cloud Scheduler ticks every minute; locally, pending events move sooner
Progress = Callable[[str], None]


@dataclass
class StackInfo:
    """What `dev up` wrote to `{root}/stack.json`: enough for `dev land`, `dev down`, the demo."""

    root: str
    project: str
    pubsub: str | None  # host:port of the emulator, or None when events go straight to functions
    functions: dict[str, str] = field(default_factory=dict)  # name → URL
    standin: str = ""
    airflow: str = ""
    airflow_user: str = ""
    airflow_password: str = ""  # the local instance's fixed development login, not a secret
    ledger: str = ""
    bus: str = ""
    pgids: list[int] = field(default_factory=list)
    owner_pid: int = 0
    ready: bool = False  # written while starting too, so `dev down` can stop a half-started stack
    policy: str = ""

    def service_url(self, service: str = SERVICE) -> str:
        return f"{self.standin}/run/{service}"

    @classmethod
    def load(cls, root: Path) -> StackInfo:
        doc = running(root)
        if doc is None:
            raise RuntimeError(f"no local stack running under {root}: run `interlock dev up` first")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def save(self) -> None:
        path = Path(self.root, STATE_FILE)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temp.replace(path)  # readers never see half a file


class StackBusy(RuntimeError):
    """Another `dev up` runs on this root: two stacks never share a ledger or state."""


class LocalStack:
    def __init__(
        self,
        root: Path,
        policy: Path = REPO / "interlock.yaml",
        dags: Path = REPO / "dags",
        airflow: bool = True,
        pubsub: bool | None = None,
        airflow_version: str = "3",
        progress: Progress = print,
        function_overrides: dict[str, str] | None = None,
        tick_period_s: float = TICK_PERIOD_S,
        operation_delay_s: float | None = None,  # the stand-in's long-running operations
    ) -> None:
        self.root = root.resolve()
        self.policy = policy.resolve()
        self.dags = dags.resolve()
        self.with_airflow = airflow
        self.airflow_version = airflow_version  # "3" or "2" (interlock_dev.airflow.VERSIONS)
        self.want_pubsub = pubsub
        self.progress = progress
        self.processes: list[ServiceProcess] = []
        self.function_overrides = dict(function_overrides or {})
        self.tick_period_s = tick_period_s
        self.operation_delay_s = operation_delay_s
        self.airflow: Any = None
        self.emulator: Any = None
        self._saved_host: str | None = None
        self.info = StackInfo(
            root=str(self.root), project=PROJECT, pubsub=None, owner_pid=os.getpid(),
            policy=str(self.policy),
        )  # fmt: skip
        self._lock: Any = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> StackInfo:
        """Start everything or nothing: on any failure what started is stopped again."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._claim()
        try:
            self._start_standin()
            self._start_pubsub()
            self._start_functions()
            if self.with_airflow:
                self._start_airflow()
            if self.info.pubsub:
                self._subscribe()
            self._start_ticker()
        except BaseException:
            self.stop()
            raise
        self.info.ready = True
        self.info.save()
        return self.info

    def _claim(self) -> None:
        """Hold `{root}/stack.lock` for the stack's life: a second `dev up` here is refused."""
        import fcntl

        lock = (self.root / "stack.lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            other = running(self.root) or {}
            raise StackBusy(
                f"a local stack already runs under {self.root} (pid {other.get('owner_pid', '?')}):"
                " stop it with `interlock dev down`, or pick another --root"
            ) from None
        self._lock = lock
        self.info.save()

    def stop(self) -> None:
        # Every service is told at once and shuts down side by side; waiting on each in turn
        # made stopping a stack take its services' shutdown times added up.
        for proc in self.processes:
            proc.terminate()
        for proc in reversed(self.processes):
            proc.stop(grace_s=5)
        self.processes.clear()
        if self.airflow is not None:
            self.airflow.stop()
            self.airflow = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
            if self._saved_host is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = self._saved_host
        if self._lock is not None:
            with contextlib.suppress(OSError):
                (self.root / STATE_FILE).unlink()
            self._lock.close()  # releases the claim
            self._lock = None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- components -------------------------------------------------------------------------
    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> ServiceProcess:
        proc = ServiceProcess(name, argv, self.root / "logs" / f"{name}.log", env).start()
        self.processes.append(proc)
        assert proc.pid is not None
        self.info.pgids.append(proc.pid)
        self.info.save()
        return proc

    def _start_standin(self) -> None:
        t0 = time.monotonic()
        taken: set[int] = set()
        for attempt in range(PORT_TRIES):
            port = free_port(47590, taken=taken)
            argv = [sys.executable, "-m", "interlock_dev.standin", "--port", str(port),
                    "--db", str(self.root / "standin.db"), "--project", PROJECT, "--location", REGION]  # fmt: skip
            if self.operation_delay_s is not None:
                argv += ["--operation-delay", str(self.operation_delay_s)]
            proc = self._spawn("standin", argv)
            url = f"http://{HOST}:{port}"
            try:
                ready = functools.partial(_healthy_as, url, proc, port)
                wait_until(ready, 20, "Vertex AI / Cloud Run stand-in", proc)
                break
            except RuntimeError:
                if attempt == PORT_TRIES - 1 or proc.alive():
                    raise
                self.processes.remove(proc)  # lost its port to another stack: take another
        self.info.standin = url
        self._ensure_service(url)
        self.progress(
            f"stand-in   Vertex AI + Cloud Run + Monitoring on {url}  ({time.monotonic() - t0:.1f}s)"
        )

    def _ensure_service(self, url: str) -> None:
        """The Cloud Run service exists before any promotion, as it would in a real project."""
        name = f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}"
        if http_ok(f"{url}/v2/{name}"):
            return
        body = {
            "template": {"containers": [{"image": "us-docker.pkg.dev/cloudrun/container/hello"}]}
        }
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{url}/v2/projects/{PROJECT}/locations/{REGION}/services?serviceId={SERVICE}",
            data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            operation = json.loads(response.read())
        wait_until(
            lambda: _json(f"{url}/v2/{operation['name']}").get("done", False),
            20,
            "service creation",
        )

    def _start_pubsub(self) -> None:
        from interlock_dev.emulators import PubSubEmulator, pubsub_unavailable

        why = pubsub_unavailable()
        if self.want_pubsub is False or why:
            reason = why or "disabled"
            self.info.bus = f"file:{self.root / 'events.jsonl'}"
            self.progress(f"pubsub     NOT RUNNING ({reason}): events go straight to the functions")
            return
        t0 = time.monotonic()
        taken: set[int] = set()
        for attempt in range(PORT_TRIES):
            emulator = PubSubEmulator(free_port(47585, taken=taken), self.root / "logs")
            try:
                self.emulator = emulator.start()
                break
            except RuntimeError:  # lost the port to another stack between probe and bind
                if attempt == PORT_TRIES - 1:
                    raise
        self.info.pubsub = emulator.host_port
        # This process administers and publishes to the emulator too (restored by stop()).
        self._saved_host = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host_port
        if emulator.process is not None and emulator.process.pid is not None:
            self.info.pgids.append(emulator.process.pid)
        self.info.bus = "pubsub"
        self.progress(f"pubsub     emulator on {self.info.pubsub}  ({time.monotonic() - t0:.1f}s)")

    def function_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "AIRFLOW"))}
        env.update({
            "INTERLOCK_POLICY": str(self.policy),
            "INTERLOCK_PROJECT": PROJECT,
            "INTERLOCK_REGION": REGION,
            "INTERLOCK_LEDGER": f"sqlite:{self.root / 'ledger.db'}",
            "INTERLOCK_BUS": self.info.bus,
            "INTERLOCK_STORAGE": f"local:{self.root / 'buckets'}",
            "INTERLOCK_VERTEX_ENDPOINT": self.info.standin,
            "INTERLOCK_RUN_ENDPOINT": self.info.standin,
            "INTERLOCK_MONITORING_ENDPOINT": self.info.standin,
            "INTERLOCK_LEASE_TTL_S": os.environ.get("INTERLOCK_LEASE_TTL_S", "30"),
            "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        self.info.ledger = env["INTERLOCK_LEDGER"]
        from interlock.adapters.ledger_sqlite import SqliteLedger

        SqliteLedger(self.root / "ledger.db")  # exists from the start: the CLI reads it at once
        if self.info.pubsub:
            env["PUBSUB_EMULATOR_HOST"] = self.info.pubsub
        else:
            env.pop("PUBSUB_EMULATOR_HOST", None)
        return env

    def _start_functions(self) -> None:
        t0 = time.monotonic()
        env = self.function_env()
        # Airflow starts after the functions; its URL and login are fixed by then.
        self._airflow_port = free_port(47580) if self.with_airflow else 0
        if self.with_airflow:
            from interlock_dev.airflow import PASSWORD, USERNAME

            self.info.airflow_user, self.info.airflow_password = USERNAME, PASSWORD
            env.update({
                "INTERLOCK_AIRFLOW_URL": f"http://{HOST}:{self._airflow_port}",
                "AIRFLOW_USERNAME": self.info.airflow_user,
                "AIRFLOW_PASSWORD": self.info.airflow_password,
            })  # fmt: skip
        binary = str(Path(sys.executable).with_name("functions-framework"))
        taken = {self._airflow_port}
        procs = []
        for i, name in enumerate(FUNCTIONS):
            port = free_port(47600 + i * 10, taken=taken)
            argv = [binary, "--target", name, "--source", str(REPO / "functions" / "main.py"),
                    "--signature-type", "cloudevent", "--host", HOST, "--port", str(port)]  # fmt: skip
            env_of = {**env, **self.function_overrides}
            proc = self._spawn(f"fn-{name}", argv, env_of)
            procs.append((name, port, proc))
        for name, port, proc in procs:
            for attempt in range(PORT_TRIES):
                url = f"http://{HOST}:{port}"
                # What answers must be this stack's own process, not another stack's on that port.
                check = functools.partial(_answers_as, url, proc, port)
                try:
                    wait_until(check, 30, f"function {name}", proc)
                    break
                except RuntimeError:
                    # Another stack bound the port between our probe and our bind: take another.
                    if attempt == PORT_TRIES - 1 or owns_port(proc, port):
                        raise
                    proc.stop(grace_s=1)
                    self.processes.remove(proc)
                    port = free_port(47600 + FUNCTIONS.index(name) * 10 + 1, taken=taken)
                    argv = [*proc.argv[:-1], str(port)]
                    proc = self._spawn(f"fn-{name}", argv, proc.env)
            self.info.functions[name] = url
        listing = ", ".join(
            f"{n.removeprefix('on_')}:{u.rsplit(':', 1)[1]}" for n, u in self.info.functions.items()
        )
        self.progress(f"functions  {listing}  ({time.monotonic() - t0:.1f}s)")

    def _start_airflow(self) -> None:
        from interlock_dev.airflow import local_airflow

        t0 = time.monotonic()
        variables = {
            "AIRFLOW_VAR_INTERLOCK_TARGET": "local",
            "AIRFLOW_VAR_INTERLOCK_LOCAL_BUCKETS": str(self.root / "buckets"),
            "AIRFLOW_VAR_INTERLOCK_ARTIFACTS": str(self.root / "artifacts"),
            "AIRFLOW_VAR_INTERLOCK_VERTEX_ENDPOINT": self.info.standin,
            "AIRFLOW_VAR_INTERLOCK_PROJECT": PROJECT,
            "AIRFLOW_VAR_INTERLOCK_REGION": REGION,
        }
        if self.info.pubsub:
            variables["AIRFLOW_VAR_INTERLOCK_PUBSUB_EMULATOR"] = self.info.pubsub
        else:
            variables["AIRFLOW_VAR_INTERLOCK_FUNCTION_URL"] = self.info.functions[
                "on_model_evaluated"
            ]
        self.airflow = local_airflow(
            self.airflow_version, self.root / "airflow", self.dags, self._airflow_port,
            extra_env=variables,
        )  # fmt: skip
        self.progress(f"airflow    {self.airflow_version} starting (up to 180 s)…")
        self.airflow.start()
        self.info.pgids.extend(s.pid for s in self.airflow.services if s.pid)
        self.info.save()
        self.airflow.wait_ready(self.dag_ids(), timeout_s=180)
        self.info.airflow = self.airflow.base_url
        self.progress(
            f"airflow    {self.airflow_version} at {self.airflow.base_url} (admin/admin), DAGs from {self.dags}  ({time.monotonic() - t0:.1f}s)"
        )

    def _start_ticker(self) -> None:
        argv = [sys.executable, "-m", "interlock_dev.ticker", "--period", str(self.tick_period_s),
                "--project", PROJECT]  # fmt: skip
        if self.info.pubsub:
            argv += ["--pubsub", self.info.pubsub]
        else:
            argv += ["--function", self.info.functions["on_tick"]]
        self._spawn("ticker", argv, {**os.environ, "PYTHONUNBUFFERED": "1"})
        self.progress(
            f"ticker     a tick every {self.tick_period_s:g}s → on_tick (Cloud Scheduler)"
        )

    def dag_ids(self) -> list[str]:
        from interlock.adapters.policy_yaml import read_policy

        return sorted({p.dag_id for p in read_policy(self.policy).pipelines})

    def _subscribe(self) -> None:
        from interlock_dev.pubsub_admin import DeliveryPolicy, PubSubAdmin, push_endpoint

        admin = PubSubAdmin(PROJECT)
        try:
            for topic in topics.ALL:
                admin.ensure_topic(topic)
            for topic, function in topics.SUBSCRIBERS.items():
                # The dead-letter topic's own subscription must not dead-letter into itself; a
                # tick is never worth keeping (the next one comes soon).
                final = None if topic in (topics.DEAD_LETTER, topics.TICKS) else topics.DEAD_LETTER
                policy = DeliveryPolicy(
                    ack_deadline_s=60, min_backoff_s=1, max_backoff_s=10,
                    dead_letter_topic=final, max_delivery_attempts=5,
                )  # fmt: skip
                endpoint = push_endpoint(self.info.functions[function], PROJECT, topic)
                admin.ensure_subscription(f"{topic}-push", topic, policy, push_to=endpoint)
            for topic in (topics.DECISIONS, topics.DEAD_LETTER):
                admin.ensure_subscription(f"{topic}-tail", topic)
            # What `interlock replay` reads, as deploy/topics.sh creates it in a project (the
            # tail is `dev events`' and is acked as it is read).
            admin.ensure_subscription(HOLD, topics.DEAD_LETTER)
        finally:
            admin.close()
        self.progress(
            f"topics     {', '.join(topics.ALL)} (push → functions, retry 1-10 s, dead letter after 5)"
        )


def _json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        result: dict[str, Any] = json.loads(response.read())
        return result


def _healthy_as(url: str, proc: ServiceProcess, port: int) -> bool:
    return http_ok(f"{url}/_health") and owns_port(proc, port)


def _answers_as(url: str, proc: ServiceProcess, port: int) -> bool:
    return _answers(url) and owns_port(proc, port)


def _answers(url: str) -> bool:
    """functions-framework is up when it answers at all (a GET on a CloudEvent function is 4xx)."""
    try:
        urllib.request.urlopen(url, timeout=1)  # noqa: S310 (loopback)
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True
