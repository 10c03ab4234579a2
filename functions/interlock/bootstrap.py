"""Composition root: builds the handler once per process from the environment.

Nothing heavy is imported here: each adapter (and its Google client) is created on first use,
so `on_data_landed` never loads Vertex AI or Cloud Run, and `on_model_observed` never loads
the Airflow client.

Environment (all optional except where the path needs it):
  INTERLOCK_POLICY            policy file (default: interlock.yaml beside main.py)
  INTERLOCK_PROJECT           Google Cloud project (GOOGLE_CLOUD_PROJECT also read)
  INTERLOCK_REGION            region of Vertex AI and Cloud Run (default us-central1)
  INTERLOCK_DECISIONS_TOPIC   outcome events (default interlock-decisions)
  INTERLOCK_DEAD_LETTER_TOPIC dead letters (default interlock-dead-letter)
  INTERLOCK_LEDGER            "firestore" (default) or "sqlite:/path/ledger.db"
  INTERLOCK_BUS               "pubsub" (default) or "file:/path/events.jsonl" (local, no emulator)
  INTERLOCK_STORAGE           "gcs" (default) or "local:/path" (the local
                              stack's bucket directory): listing and manifests of batched pipelines
  INTERLOCK_FIRESTORE_DATABASE Firestore database id (default "(default)")
  INTERLOCK_AIRFLOW_URL       Airflow base URL (Composer web server URL on Google Cloud)
  INTERLOCK_AIRFLOW_API       auto (default: probe v2, then v1), v1 (Airflow 2) or v2 (Airflow 3)
  AIRFLOW_USERNAME + AIRFLOW_PASSWORD | AIRFLOW_PASSWORD_FILE  password login (JWT on Airflow 3,
                              basic auth on Airflow 2); none → Google auth (Cloud Composer)
  INTERLOCK_VERTEX_ENDPOINT / INTERLOCK_RUN_ENDPOINT / INTERLOCK_MONITORING_ENDPOINT
                              override endpoints (the local stand-in)
  INTERLOCK_LEASE_TTL_S       per-model lease (default 540 s: a function's longest run)
  INTERLOCK_LEASE_WAIT_S      how long to wait for a busy model before asking for redelivery (20 s)
  INTERLOCK_RETRY_BUDGET_S    in-process retries of a transient failure before the event is parked (60 s)
  INTERLOCK_TICK_ITEM_BUDGET_S in-process retries of one pending event re-driven by a tick (5 s)
  INTERLOCK_TICK_BUDGET_S     a tick starts no new re-drive after this long (40 s)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from interlock import topics
from interlock.adapters.policy_yaml import read_policy
from interlock.apply import RETRY_BUDGET_S
from interlock.core.errors import PermanentError
from interlock.handlers import LEASE_TTL_S, LEASE_WAIT_S, Handler, Topics
from interlock.ports import (
    DagTrigger,
    EventBus,
    Ledger,
    ModelRegistry,
    ObjectStore,
    Ports,
    Probe,
    RevisionMetrics,
    TrafficRouter,
)
from interlock.tick import ITEM_BUDGET_S, TICK_BUDGET_S, Ticker, standard_chores

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "interlock.yaml"


def _now() -> datetime:
    return datetime.now(UTC)


def project_of(env: Mapping[str, str]) -> str:
    return env.get("INTERLOCK_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or "local-project"


def ledger_from(spec: str, project: str, env: Mapping[str, str]) -> Ledger:
    """The ledger a spec names: "firestore" or "sqlite:PATH" (the functions and the CLI alike)."""
    if spec.startswith("sqlite:"):
        from interlock.adapters.ledger_sqlite import SqliteLedger

        return SqliteLedger(spec.removeprefix("sqlite:"))
    if spec == "firestore":
        from interlock.adapters.ledger_firestore import FirestoreLedger

        return FirestoreLedger(project, env.get("INTERLOCK_FIRESTORE_DATABASE", "(default)"))
    raise PermanentError("INTERLOCK_LEDGER", f"expected 'firestore' or 'sqlite:PATH', got {spec!r}")


def build(env: Mapping[str, str]) -> Handler:
    project = project_of(env)
    region = env.get("INTERLOCK_REGION", "us-central1")

    def ledger() -> Ledger:
        return ledger_from(env.get("INTERLOCK_LEDGER", "firestore"), project, env)

    def bus() -> EventBus:
        spec = env.get("INTERLOCK_BUS", "pubsub")
        if spec.startswith("file:"):
            from interlock.adapters.bus_file import FileEventBus

            return FileEventBus(spec.removeprefix("file:"))
        from interlock.adapters.pubsub import PubSubEventBus

        return PubSubEventBus(project)

    def dags() -> DagTrigger:
        from interlock.adapters.airflow import AirflowDagTrigger

        url = env.get("INTERLOCK_AIRFLOW_URL")
        if not url:
            raise PermanentError(
                "INTERLOCK_AIRFLOW_URL", "not set: this function cannot reach Airflow"
            )
        return AirflowDagTrigger.from_env(url, env)

    def registry() -> ModelRegistry:
        from interlock.adapters.vertex import VertexModelRegistry

        return VertexModelRegistry(region, endpoint=env.get("INTERLOCK_VERTEX_ENDPOINT"))

    def router() -> TrafficRouter:
        from interlock.adapters.cloudrun import CloudRunTrafficRouter

        return CloudRunTrafficRouter(region, project, endpoint=env.get("INTERLOCK_RUN_ENDPOINT"))

    def metrics() -> RevisionMetrics:
        from interlock.adapters.monitoring import CloudMonitoringMetrics

        return CloudMonitoringMetrics(endpoint=env.get("INTERLOCK_MONITORING_ENDPOINT"))

    def probe() -> Probe:
        from interlock.adapters.probe import HttpProbe

        return HttpProbe()

    def storage() -> ObjectStore:
        spec = env.get("INTERLOCK_STORAGE", "gcs")
        if spec.startswith("local:"):
            from interlock.adapters.storage_local import LocalObjectStore

            return LocalObjectStore(spec.removeprefix("local:"))
        if spec != "gcs":
            raise PermanentError(
                "INTERLOCK_STORAGE", f"expected 'gcs' or 'local:PATH', got {spec!r}"
            )
        from interlock.adapters.storage_gcs import GcsObjectStore

        return GcsObjectStore(project)

    names = Topics(
        decisions=topics.path(project, env.get("INTERLOCK_DECISIONS_TOPIC", topics.DECISIONS)),
        dead_letter=topics.path(
            project, env.get("INTERLOCK_DEAD_LETTER_TOPIC", topics.DEAD_LETTER)
        ),
    )
    policy = read_policy(env.get("INTERLOCK_POLICY", str(DEFAULT_POLICY)))
    ports = Ports(
        ledger=ledger, bus=bus, dags=dags, registry=registry, router=router, metrics=metrics,
        storage=storage, probe=probe,
    )  # fmt: skip
    lease_ttl_s = float(env.get("INTERLOCK_LEASE_TTL_S", LEASE_TTL_S))
    lease_wait_s = float(env.get("INTERLOCK_LEASE_WAIT_S", LEASE_WAIT_S))
    retry_budget_s = float(env.get("INTERLOCK_RETRY_BUDGET_S", RETRY_BUDGET_S))
    return Handler(
        policy,
        ports,
        names,
        _now,
        source=f"//interlock/{project}",
        lease_ttl_s=lease_ttl_s,
        lease_wait_s=lease_wait_s,
        retry_budget_s=retry_budget_s,
    )


@functools.cache
def handler() -> Handler:
    """The process's handler, built on the first event (Cloud Functions reuses warm instances)."""
    return build(os.environ)


@functools.cache
def ticker() -> Ticker:
    """The process's tick runner, over the process's handler (`on_tick`)."""
    env = os.environ
    return Ticker(
        handler(),
        item_budget_s=float(env.get("INTERLOCK_TICK_ITEM_BUDGET_S", ITEM_BUDGET_S)),
        tick_budget_s=float(env.get("INTERLOCK_TICK_BUDGET_S", TICK_BUDGET_S)),
        chores=standard_chores(),
    )
