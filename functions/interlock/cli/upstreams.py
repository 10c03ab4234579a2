"""CLI layer: the read-only upstreams `interlock lineage` asks whether each link still holds —
the Model Registry, Airflow, the object store — for a local stack or a Google Cloud project.

A missing one is not an error: its links say "not asked" and why (`--offline` asks none).
Each is built on first use only, so a ledger-only answer imports no Google client.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interlock.cli.target import Target


@dataclass
class Upstream:
    """One upstream: how to build its client, or why there is none."""

    build: Callable[[], Any] | None
    missing: str = ""  # why it is not asked (no build)

    def client(self) -> Any:
        assert self.build is not None
        return self.build()


@dataclass
class Upstreams:
    registry: Upstream
    airflow: Upstream
    storage: Upstream


def upstreams(target: Target, region: str, offline: bool) -> Upstreams:
    if offline:
        off = Upstream(None, "not asked (--offline)")
        return Upstreams(off, off, off)
    if target.local is not None:
        return _local(target.local, region)
    return _cloud(target, region)


def _local(doc: dict[str, Any], region: str) -> Upstreams:
    standin, airflow, root = doc.get("standin"), doc.get("airflow"), doc.get("root")

    def registry() -> Any:
        from interlock.adapters.vertex import VertexModelRegistry

        return VertexModelRegistry(region, endpoint=standin)

    def dags() -> Any:
        from interlock.adapters.airflow import AirflowDagTrigger

        login = {
            "AIRFLOW_USERNAME": str(doc.get("airflow_user") or ""),
            "AIRFLOW_PASSWORD": str(doc.get("airflow_password") or ""),
        }
        return AirflowDagTrigger.from_env(str(airflow), login)

    def storage() -> Any:
        from interlock.adapters.storage_local import LocalObjectStore

        return LocalObjectStore(f"{root}/buckets")

    return Upstreams(
        Upstream(registry if standin else None, "the local stack has no Vertex stand-in"),
        Upstream(dags if airflow else None, "the local stack runs without Airflow"),
        Upstream(storage if root else None, "the local stack names no bucket root"),
    )


def _cloud(target: Target, region: str) -> Upstreams:
    env = os.environ
    url = env.get("INTERLOCK_AIRFLOW_URL")

    def registry() -> Any:
        from interlock.adapters.vertex import VertexModelRegistry

        return VertexModelRegistry(region, endpoint=env.get("INTERLOCK_VERTEX_ENDPOINT"))

    def dags() -> Any:
        from interlock.adapters.airflow import AirflowDagTrigger

        return AirflowDagTrigger.from_env(str(url), env)

    def storage() -> Any:
        from interlock.adapters.storage_gcs import GcsObjectStore

        return GcsObjectStore(target.project or "")

    no_project = "no project: pass --project or set INTERLOCK_PROJECT"
    return Upstreams(
        Upstream(registry if target.project else None, no_project),
        Upstream(dags if url else None, "INTERLOCK_AIRFLOW_URL is not set"),
        Upstream(storage if target.project else None, no_project),
    )
