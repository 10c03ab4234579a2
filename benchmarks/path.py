"""The rest of the path on the local stack: publish → effect, breaching window → rollback, and
what exactly-once costs against a naive trigger under the same redelivery.

All go through the running stack: the Pub/Sub emulator pushes to the functions, which decide
against the stack's ledger and change the stand-in (Vertex AI, Cloud Run) or Airflow.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from interlock import topics
from interlock.adapters.cloudrun import CloudRunTrafficRouter
from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.adapters.pubsub import PubSubEventBus
from interlock.core.events import Outcome
from interlock.core.inbound import parse_document
from interlock.core.keys import idempotency_key
from interlock_dev import first_events
from interlock_dev.stack import PROJECT, REGION, SERVICE, LocalStack

Event = dict[str, Any]


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.002) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(poll_s)
    raise RuntimeError(f"{what}: nothing after {timeout_s:.0f} s")


class Loop:
    """Publish events as a producer does, and watch what the stack decides and serves."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.bus = PubSubEventBus(PROJECT)
        self.ledger = SqliteLedger(stack.info.ledger.removeprefix("sqlite:"))
        self.router = CloudRunTrafficRouter(REGION, PROJECT, endpoint=stack.info.standin)

    def publish(self, event: Event) -> float:
        """Publish on the topic its type goes to; the time it was published."""
        sent = time.monotonic()
        self.bus.publish(topics.topic_for(event["type"]), first_events.message(event))
        return sent

    def decided(self, event: Event, timeout_s: float = 30) -> Outcome:
        key = idempotency_key(parse_document(event))
        found: Outcome = wait_for(lambda: self.ledger.get(key), timeout_s, f"decision on {key}")
        return found

    def served(self) -> dict[str, int]:
        return {s.revision: s.percent for s in self.router.get_traffic(SERVICE)}


def publish_to_effect(loop: Loop, n: int) -> list[float]:
    """Seconds from publishing a rollback request to its decision recorded, `n` times."""
    took = []
    for _ in range(n):
        event = first_events.rollback()
        sent = loop.publish(event)
        loop.decided(event)
        took.append(time.monotonic() - sent)
    return took


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def rollback_latency(loop: Loop, upload_version: Callable[[], str]) -> float:
    """Champion v1, canary of a new version; seconds from publishing the breaching window that
    decides the rollback (3 of the last 4 breach) to the stand-in serving none of the canary."""
    champion = first_events.evaluated("1")
    loop.publish(champion)
    loop.decided(champion)
    version = upload_version()
    canary = first_events.evaluated(version)
    loop.publish(canary)
    outcome = loop.decided(canary)
    if outcome.kind != "promoted":
        raise RuntimeError(f"canary of v{version} not started: {outcome.kind} {outcome.reasons}")
    revision = f"{SERVICE}-v{version}"
    for _ in range(2):
        window = first_events.observed(revision, version, error_rate=0.5)
        loop.publish(window)
        loop.decided(window)
        time.sleep(0.01)  # the next window ends later
    breaching = first_events.observed(revision, version, error_rate=0.5)
    sent = loop.publish(breaching)
    wait_for(lambda: loop.served().get(revision, 0) == 0, 30, "rollback", poll_s=0.005)
    took = time.monotonic() - sent
    outcome = loop.decided(breaching)
    if outcome.kind != "rolled_back":
        raise RuntimeError(f"the breaching window was {outcome.kind}: {outcome.reasons}")
    return took


class Airflow:
    """Just enough of Airflow 3's REST API (v2) to trigger like Google's Composer sample does
    (no run id: every delivery a new run) and to count the runs one landing made."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        token = self._call("POST", "/auth/token", {"username": username, "password": password})
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def _call(self, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def pause(self, dag_id: str) -> None:
        """Runs are still created (queued), just not executed: the training a bench landing
        starts would load the machine the next measurements share."""
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True}, self.headers)

    def naive_trigger(self, dag_id: str, conf: dict[str, Any]) -> None:
        self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                   {"logical_date": None, "conf": conf}, self.headers)  # fmt: skip

    def runs_for(self, dag_id: str, uri: str) -> int:
        runs = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-start_date",
                          headers=self.headers)["dag_runs"]  # fmt: skip
        return sum(1 for r in runs if (r.get("conf") or {}).get("object") == uri)


def exactly_once(stack: LocalStack, deliveries: int) -> tuple[float, int, float, int]:
    """One landing delivered `deliveries` times (Pub/Sub's at-least-once) to the running
    on_data_landed, and the same to a naive trigger: (seconds per delivery, DAG runs) each."""
    airflow = Airflow(stack.info.airflow, stack.info.airflow_user, stack.info.airflow_password)
    url = stack.info.functions["on_data_landed"]
    event = first_events.landed()
    body = json.dumps(event).encode()
    uri = f"gs://{event['data']['bucket']}/{event['data']['name']}#{event['data']['generation']}"
    began = time.monotonic()
    for _ in range(deliveries):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/cloudevents+json"}
        )
        with urllib.request.urlopen(request, timeout=60):
            pass
    ours = (time.monotonic() - began) / deliveries
    our_runs = airflow.runs_for("train_on_arrival", uri)
    naive_uri = uri + "-naive"
    began = time.monotonic()
    for _ in range(deliveries):
        airflow.naive_trigger("train_on_arrival", {"object": naive_uri, "model": "churn"})
    naive = (time.monotonic() - began) / deliveries
    return ours, our_runs, naive, airflow.runs_for("train_on_arrival", naive_uri)
