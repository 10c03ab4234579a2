"""The reliability rig: the real local stack (Pub/Sub emulator, functions under functions-framework,
Airflow 3, the stand-in with its fault switch), events published the way producers publish them,
and the counting that proves exactly-once effects and zero lost events."""

from __future__ import annotations

import copy
import http.client
import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from interlock import topics
from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.adapters.pubsub import PubSubEventBus
from interlock.core.binding import ce_type_of, payload_message
from interlock.core.events import ModelEvaluated, ModelObserved, Outcome
from interlock.core.keys import payload_key
from interlock.ports import Message
from interlock.topics import path as topic_path
from interlock.topics import topic_for
from interlock_dev.processes import ServiceProcess, kill_session, wait_until
from interlock_dev.pubsub_admin import PubSubAdmin
from interlock_dev.stack import PROJECT, REGION, LocalStack
from tests.fixtures.waiting import wait_for

from .deliveries import DeadLetterWatch, Delivery, delivery_of

REPO = Path(__file__).resolve().parents[2]
# One model per test that keeps state on it, so no test depends on what another left behind.
MODELS = ("dup", "manual", "kill", "cloudrun", "order", "race", "guard", "flap", "cap", "poison",
          "outage")  # fmt: skip
# Pending events: the tick comes every 2 s here (every minute on Google Cloud) and re-drives with
# a short backoff, so a scenario sees recovery within seconds of the upstream's return.
TICK_PERIOD_S = 2.0
# Windows of the burst scenario close at this many members (a few per partition at make test's
# size; Composer-sized ones at full size).
BURST_MAX_OBJECTS = 12 if os.environ.get("INTERLOCK_RELIABILITY_SCALE", "1") == "1" else 500
PENDING = {"give_up_after": "24h", "retry_first": "2s", "retry_max": "10s"}


def reliability_policy() -> dict[str, Any]:
    """One model per scenario (own service, own state), a noop DAG, and fast guard settings."""
    base = yaml.safe_load((REPO / "interlock.yaml").read_text())
    template = base["models"][0]
    models = []
    for name in MODELS:
        model = copy.deepcopy(template)
        model["name"] = name
        model["vertex_model"] = f"projects/{PROJECT}/locations/{REGION}/models/{name}"
        model["service"] = f"projects/{PROJECT}/locations/{REGION}/services/{name}"
        model.pop("observe", None)  # scenarios push their windows; the observer would add its own
        model["canary"].update(hold_windows=1, min_samples=10)
        model["guard"].update(
            breaches=3, of_windows=4, min_samples=10, cooldown="0s", max_rollbacks=2
        )
        models.append(model)
    base["models"] = models
    for pipeline in base["pipelines"]:
        pipeline["dag_id"] = "interlock_noop"
        # The conf names a model of this policy (policy check insists; the noop DAG ignores it).
        if "model" in pipeline.get("conf", {}):
            pipeline["conf"]["model"] = MODELS[0]
    # The batched pipeline (tests/reliability/test_batch_burst.py): short timers, small windows.
    batched = base["pipelines"][1]
    batched["batch"].update(quiet="3s", max_wait="60s", max_objects=BURST_MAX_OBJECTS)
    base["pending"] = dict(PENDING)
    return base


@dataclass
class Sent:
    key: str
    what: str


def answers(url: str) -> bool:
    """functions-framework is up once it answers HTTP at all: a GET on a CloudEvent function is 4xx."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=1)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status > 0
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@dataclass
class Figures:
    """What `make reliability` prints: per scenario, events sent and how each ended."""

    sent: Counter[str] = field(default_factory=Counter)
    final: dict[str, Counter[str]] = field(default_factory=dict)
    duplicate_effects: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    pending: Counter[str] = field(default_factory=Counter)  # events that went through pending
    regressions: Counter[str] = field(default_factory=Counter)


FIGURES = Figures()


class Rig:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        (root / "policy.yaml").write_text(yaml.safe_dump(reliability_policy()))
        from .faulty_proxy import FaultyProxy

        # Functions reach Airflow through a proxy that can fail on demand; upstream set at start.
        self.airflow_proxy = FaultyProxy("http://127.0.0.1:1")
        overrides = {
            "INTERLOCK_LEASE_TTL_S": "4",
            # Enough to ride out the injected outages in-process; persistent ones reach Pub/Sub.
            "INTERLOCK_RETRY_BUDGET_S": "8",
            # A re-driven event gets one attempt per tick: a tick never waits on a dead upstream.
            "INTERLOCK_TICK_ITEM_BUDGET_S": "0",
            "INTERLOCK_AIRFLOW_URL": self.airflow_proxy.url,
        }
        self.stack = LocalStack(
            root / "stack", policy=root / "policy.yaml", dags=REPO / "tests" / "data" / "dags",
            progress=lambda _: None, function_overrides=overrides, tick_period_s=TICK_PERIOD_S,
        )  # fmt: skip
        self.admin = PubSubAdmin(PROJECT)  # its clients start on first use, after the emulator
        self.sent: dict[str, list[Sent]] = {}
        self._tick = 0
        self._counted: set[str] = set()

    def start(self) -> None:
        self.stack.start()
        self.airflow_proxy.upstream = self.stack.info.airflow
        self.bus = PubSubEventBus(PROJECT)
        self.ledger = SqliteLedger(self.stack.info.ledger.removeprefix("sqlite:"))
        for name in MODELS:
            self.create_service(name)
        self.upload_versions(MODELS, 12)

    def stop(self) -> None:
        self.admin.close()
        self.stack.stop()
        self.airflow_proxy.close()

    # -- the stand-in ----------------------------------------------------------------------
    def _standin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.stack.info.standin + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def create_service(self, name: str) -> None:
        body = {
            "template": {"containers": [{"image": "us-docker.pkg.dev/cloudrun/container/hello"}]}
        }
        self._standin(
            "POST", f"/v2/projects/{PROJECT}/locations/{REGION}/services?serviceId={name}", body
        )

    def upload_versions(self, models: tuple[str, ...], count: int) -> None:
        """`count` registry versions of each model. The uploads' operations run side by side (one
        at a time, each waited for, cost a minute of setup); the first upload creates the model,
        so it finishes before the others name it as their parent."""
        parent = f"projects/{PROJECT}/locations/{REGION}"

        def upload(model: str, first: bool) -> None:
            body: dict[str, Any] = {"model": {"displayName": model, "artifactUri": f"file:///tmp/{model}",
                                              "containerSpec": {"imageUri": "img:1"}}}  # fmt: skip
            body.update(
                {"modelId": model} if first else {"parentModel": f"{parent}/models/{model}"}
            )
            self._standin("POST", f"/v1/{parent}/models:upload", body)

        def uploaded(n: int) -> bool:
            models_now = self.state()["models"]
            return all(len(models_now.get(f"{parent}/models/{m}", {})) >= n for m in models)

        for model in models:
            upload(model, first=True)
        wait_for(lambda: uploaded(1), 20, "the first version of every model")
        for _ in range(count - 1):
            for model in models:
                upload(model, first=False)
        wait_for(lambda: uploaded(count), 30, f"{count} versions of every model")

    def versions(self, model: str) -> dict[str, list[str]]:
        name = f"projects/{PROJECT}/locations/{REGION}/models/{model}"
        result: dict[str, list[str]] = self.state()["models"].get(name, {})
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._standin("GET", "/_state")
        return result

    def fault(self, **fault: Any) -> None:
        self._standin("POST", "/_faults", fault)

    def clear_faults(self) -> None:
        self._standin("DELETE", "/_faults")

    def counters(self) -> Counter[str]:
        return Counter(self.state()["counters"])

    def traffic(self, model: str) -> dict[str, int]:
        service = self.state()["services"][
            f"projects/{PROJECT}/locations/{REGION}/services/{model}"
        ]
        # The statuses name the revision even where the request said LATEST.
        statuses = service["trafficStatuses"] or []
        return {t["revision"]: t["percent"] for t in statuses if t.get("percent")}

    def aliases(self, model: str) -> dict[str, str]:
        return {alias: v for v, aliases in self.versions(model).items() for alias in aliases}

    # -- publishing ------------------------------------------------------------------------
    def publish(
        self, scenario: str, payload: Any, times: int = 1, concurrently: bool = True
    ) -> str:
        """Publish one event `times` times (new message ids each), as an at-least-once producer."""
        ce_type_topic = topic_for(ce_type_of(payload))
        key = payload_key(payload)

        def once(_: int) -> str:
            message = payload_message(payload, "//reliability", uuid.uuid4().hex, datetime.now(UTC))
            return self.bus.publish(topic_path(PROJECT, ce_type_topic), message)

        if concurrently and times > 1:
            with ThreadPoolExecutor(max_workers=times) as pool:
                list(pool.map(once, range(times)))
        else:
            for i in range(times):
                once(i)
        self.record_sent(scenario, key, type(payload).__name__, times)
        return key

    def publish_raw(self, scenario: str, topic: str, message: Message, what: str) -> Delivery:
        """Publish a message as built (a GCS notification, poison); its key comes from parsing it."""
        message_id = self.bus.publish(topic_path(PROJECT, topic), message)
        delivery = delivery_of(topic, message_id, message)
        self.record_sent(scenario, delivery.key, what, 1)
        return delivery

    def record_sent(self, scenario: str, key: str, what: str, times: int) -> None:
        self.sent.setdefault(scenario, []).append(Sent(key, what))
        FIGURES.sent[scenario] += times

    # -- evidence --------------------------------------------------------------------------
    def outcome(self, key: str) -> Outcome | None:
        return self.ledger.get(key)

    def parked_keys(self) -> set[str]:
        return {p.key for p in self.ledger.parked(limit=10_000)}

    def ride_out(self, scenario: str, seconds: float, keys: set[str]) -> set[str]:
        """Wait out an outage, noting which of `keys` were parked meanwhile (the figures'
        "pend" column): proof that they waited in the ledger, not in Pub/Sub's retries."""
        seen: set[str] = set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            seen |= self.parked_keys() & keys
            time.sleep(1.0)
        FIGURES.pending[scenario] += len(seen)
        return seen

    def settle(
        self, scenario: str, timeout_s: float = 90, keys: Iterable[str] | None = None
    ) -> dict[str, Outcome]:
        """Wait until every event of the scenario (or only `keys`, sent in it) has a final ledger
        state; count the lost ones."""
        keys = [s.key for s in self.sent.get(scenario, [])] if keys is None else list(keys)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = {k: o for k in keys if (o := self.outcome(k)) is not None}
            if len(found) == len(set(keys)):
                break
            time.sleep(0.3)
        found = {k: o for k in keys if (o := self.outcome(k)) is not None}
        fresh = [k for k in dict.fromkeys(keys) if k not in self._counted]
        FIGURES.final.setdefault(scenario, Counter()).update(
            found[k].kind for k in fresh if k in found
        )
        FIGURES.lost[scenario] += sum(1 for k in fresh if k not in found)
        self._counted.update(fresh)
        return found

    def reconcile(self, scenario: str, keys: Iterable[str] | None = None) -> None:
        """Every event sent in the scenario (or each of `keys`) has a final ledger state."""
        wanted = None if keys is None else set(keys)
        sent = [s for s in self.sent.get(scenario, []) if wanted is None or s.key in wanted]
        missing = [s for s in sent if self.outcome(s.key) is None]
        assert missing == [], f"events without a final ledger state: {missing}"

    def check_one_run_each(self, scenario: str, uris: Iterable[str]) -> None:
        """Each landed object has exactly one DAG run (duplicates are counted for the figures)."""
        runs = self.stack.airflow.list_runs("interlock_noop")
        for uri in uris:
            mine = [r for r in runs if r["conf"].get("object") == uri]
            FIGURES.duplicate_effects[scenario] += max(0, len(mine) - 1)
            assert len(mine) == 1, f"{uri}: {len(mine)} runs"

    def check_serving(self, model: str) -> None:
        """Traffic sums to 100 %, the champion alias is on the version the ledger says serves."""
        traffic = self.traffic(model)
        assert sum(traffic.values()) == 100, traffic
        state = self.ledger.load(model).state
        if state.champion is None:
            return
        aliases = self.aliases(model)
        assert aliases.get("champion") == state.champion.version, (aliases, state.champion)
        assert state.champion.revision in traffic, (traffic, state.champion)
        if state.candidate is None:
            assert traffic == {state.champion.revision: 100}, traffic

    def watch_dead_letters(self) -> DeadLetterWatch:
        """A pull subscription of its own on the dead-letter topic, from now on."""
        return DeadLetterWatch(self.admin, f"{topics.DEAD_LETTER}-watch-{uuid.uuid4().hex[:8]}")

    def log_marks(self) -> dict[Path, int]:
        return {log: log.stat().st_size for log in self.function_logs()}

    def function_logs(self) -> list[Path]:
        return sorted(Path(self.stack.info.root, "logs").glob("fn-*.log"))

    def log_lines_since(self, marks: Mapping[Path, int]) -> list[str]:
        """Whole lines the functions logged since `marks` (a line still being written waits)."""
        lines = []
        for log in self.function_logs():
            with log.open("rb") as f:
                f.seek(marks.get(log, 0))
                lines += f.read().decode(errors="replace").split("\n")[:-1]
        return lines

    # -- scenario steps --------------------------------------------------------------------
    def promote_fully(self, scenario: str, model: str, version: int) -> None:
        """Evaluation passes, then healthy windows walk the canary to 100 % (hold: 1 window)."""
        key = self.publish(scenario, self.evaluation(model, version))
        wait_for(lambda: self.outcome(key), 60, f"{model} v{version} evaluated")
        for _ in range(3):
            if self.ledger.load(model).state.candidate is None:
                break
            window = self.publish(scenario, self.observation(model, str(version), healthy=True))
            wait_for(lambda k=window: self.outcome(k), 60, "a canary window")
        state = self.ledger.load(model).state
        assert state.champion is not None and state.champion.version == str(version), state

    def serve_first(self, scenario: str, model: str) -> None:
        """v1 passes its gate and, with no champion yet, serves 100 % at once."""
        self.publish(scenario, self.evaluation(model, 1))
        self.settle(scenario)
        assert self.traffic(model) == {f"{model}-v1": 100}

    def windows(self, scenario: str, model: str, version: str, pattern: str) -> list[str]:
        """Publish windows one at a time ('g' healthy, 'b' breach), each decided before the next."""
        kinds = []
        for mark in pattern:
            key = self.publish(scenario, self.observation(model, version, healthy=mark == "g"))
            kinds.append(wait_for(lambda k=key: self.outcome(k), 60, "a window's decision").kind)
        return kinds

    # -- crashes ---------------------------------------------------------------------------
    def function_process(self, name: str) -> ServiceProcess:
        (proc,) = [p for p in self.stack.processes if p.name == f"fn-{name}"]
        return proc

    def kill_function(self, name: str) -> None:
        """SIGKILL one function mid-flight, as a crashed instance would die."""
        proc = self.function_process(name)
        if proc.proc is not None:
            kill_session(proc.proc.pid)
            proc.proc.wait(timeout=10)
        proc.proc = None

    def restart_function(self, name: str) -> None:
        """A fresh instance on the same port (Pub/Sub redelivers to the same push endpoint)."""
        proc = self.function_process(name)
        self.kill_function(name)
        proc.start()
        assert proc.pid is not None
        self.stack.info.pgids.append(proc.pid)
        url = self.stack.info.functions[name]
        wait_until(lambda: answers(url), 30, f"function {name}", proc)

    # -- payloads --------------------------------------------------------------------------
    @staticmethod
    def evaluation(
        model: str, version: int, accuracy: float = 0.95, run: str | None = None
    ) -> ModelEvaluated:
        return ModelEvaluated(
            model=model, version=str(version), dataset_id="holdout-v1", sample_count=1000,
            metrics={"accuracy": accuracy, "latency_p95_ms": 20.0}, evaluated_at=datetime.now(UTC),
            run_id=run or f"run-{model}-{version}-{uuid.uuid4().hex[:6]}",
        )  # fmt: skip

    def observation(self, model: str, version: str, healthy: bool) -> ModelObserved:
        """A live window; each ends after the previous one, as a monitoring job's would."""
        self._tick += 1
        end = (
            datetime.now(UTC).replace(microsecond=0)
            - timedelta(seconds=120)
            + timedelta(milliseconds=self._tick)
        )
        metrics = (
            {"error_rate": 0.01, "accuracy": 0.95}
            if healthy
            else {"error_rate": 0.5, "accuracy": 0.5}
        )
        return ModelObserved(
            model=model, revision=f"{model}-v{version}", version=version,
            window_start=end - timedelta(minutes=1), window_end=end, sample_count=100, metrics=metrics,
        )  # fmt: skip
