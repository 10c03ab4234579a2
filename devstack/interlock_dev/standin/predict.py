"""Local stack (stand-in): predictions on a Cloud Run service's `uri`, from the revisions serving.

`POST {base}/run/{service}/predict` with `{"instances": [[f1, f2, …] | {"feature": value}, …]}`
picks one revision per request by the service's CURRENT `trafficStatuses` (what is served, not
the spec still reconciling): deterministically from `X-Interlock-Route-Key` when given, at
random otherwise. `POST {base}/run/{tag}---{service}/predict` pins the revision tagged `tag`, as
Cloud Run's tag URLs do. The revision's model comes from its `AIP_STORAGE_URI` env (interlock
sets it from the version's artifactUri): a `file://` directory holding `model.json`, the JSON
linear model written by dags/interlock_dag/trainer.py — read as data, never unpickled or executed.
A revision whose artifact cannot be loaded answers 503, so a bad rollout is visible from outside.
Every request a revision serves is recorded (status, latency) for Cloud Monitoring's time series
(monitoring.py); a serving fault (`POST /_faults {"revision", "error_rate", "latency_s"}`) makes
that revision's container answer a share of them with 500 and/or slower.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from interlock_dev.standin import cloudrun
from interlock_dev.standin.app import StandIn
from interlock_dev.standin.cloudrun import RUN_PREFIX
from interlock_dev.standin.errors import ApiError, invalid, not_found
from interlock_dev.standin.monitoring import Served as Counted

PATH = re.compile(
    rf"{RUN_PREFIX}(?:(?P<tag>[a-z0-9-]{{1,63}})---)?(?P<service>[a-z][-a-z0-9]{{0,62}})/predict"
)
ROUTE_KEY_HEADER = "X-Interlock-Route-Key"
REVISION_HEADER = "X-Interlock-Revision"
VERSION_LABEL = "interlock-version"
FORMAT = "interlock.linear-classifier.v1"
MODEL_FILE = "model.json"
MAX_INSTANCES = 1000
MAX_MODEL_BYTES = 1024 * 1024

Reply = tuple[int, dict[str, Any], dict[str, str]]


class ArtifactError(Exception):
    """The revision's model cannot be loaded (missing, unreadable, not our format)."""


@dataclass(frozen=True)
class LinearModel:
    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    classes: tuple[int, int]

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        try:
            if path.stat().st_size > MAX_MODEL_BYTES:
                raise ArtifactError(f"{path} is larger than {MAX_MODEL_BYTES} bytes")
            doc = json.loads(path.read_text())
            if doc.get("format") != FORMAT:
                raise ArtifactError(f"{path}: format {doc.get('format')!r} is not {FORMAT!r}")
            model = cls(
                feature_names=tuple(str(n) for n in doc["feature_names"]),
                mean=tuple(float(v) for v in doc["scaler"]["mean"]),
                scale=tuple(float(v) or 1.0 for v in doc["scaler"]["scale"]),
                coef=tuple(float(v) for v in doc["coef"]),
                intercept=float(doc["intercept"]),
                classes=(int(doc["classes"][0]), int(doc["classes"][1])),
            )
        except ArtifactError:
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            raise ArtifactError(f"{path}: {type(e).__name__}: {e}") from e
        sizes = {len(model.feature_names), len(model.mean), len(model.scale), len(model.coef)}
        if len(sizes) != 1:
            raise ArtifactError(f"{path}: feature_names, scaler and coef differ in length")
        return model

    def row(self, instance: Any, i: int) -> list[float]:
        if isinstance(instance, dict):
            missing = [n for n in self.feature_names if n not in instance]
            if missing:
                raise invalid(f"instances[{i}] lacks feature(s) {', '.join(missing[:5])}")
            values = [instance[n] for n in self.feature_names]
        elif isinstance(instance, list):
            if len(instance) != len(self.feature_names):
                raise invalid(
                    f"instances[{i}] has {len(instance)} values; the model takes "
                    f"{len(self.feature_names)}"
                )
            values = instance
        else:
            raise invalid(f"instances[{i}] must be a list of numbers or an object of features")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            raise invalid(f"instances[{i}] must hold finite numbers only")
        return [float(v) for v in values]

    def predict(self, row: list[float]) -> dict[str, Any]:
        z = self.intercept + sum(
            c * (x - m) / s
            for c, x, m, s in zip(self.coef, row, self.mean, self.scale, strict=True)
        )
        # Split by sign so exp never overflows on extreme rows.
        score = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        label = self.classes[1] if score >= 0.5 else self.classes[0]
        return {"label": label, "score": round(score, 6)}


@dataclass(frozen=True)
class Served:
    """The revision chosen for one request, read from the store."""

    revision: str
    storage_uri: str | None
    version_label: str | None
    service: str = ""  # full name: projects/P/locations/L/services/S


def choose(statuses: list[dict[str, Any]], route_key: str | None, rng: random.Random) -> str | None:
    """A revision by the weights of `statuses`; a route key always lands on the same point."""
    targets = [
        (str(s["revision"]), int(s.get("percent", 0)))
        for s in statuses
        if s.get("revision") and int(s.get("percent", 0)) > 0
    ]
    total = sum(percent for _, percent in targets)
    if total == 0:
        return None
    if route_key is None:
        point = rng.randrange(total)
    else:
        point = int(hashlib.sha256(route_key.encode()).hexdigest()[:12], 16) % total
    for revision, percent in targets:
        if point < percent:
            return revision
        point -= percent
    return targets[-1][0]  # pragma: no cover (point < total)


class Predictor:
    def __init__(self, app: StandIn, rng: random.Random | None = None) -> None:
        self.app = app
        self.rng = rng or random.Random()
        self._models: dict[tuple[str, int, int], LinearModel] = {}
        self._lock = threading.Lock()

    def serve(self, method: str, path: str, body: dict[str, Any], route_key: str | None) -> Reply:
        match = PATH.fullmatch(path)
        if match is None:
            raise not_found(f"The requested URL {path}")
        if method != "POST":
            raise ApiError("UNIMPLEMENTED", f"{method} is not supported on {path}; POST instances")
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise invalid('Body must be {"instances": [...]} with at least one instance.')
        if len(instances) > MAX_INSTANCES:
            raise invalid(f"At most {MAX_INSTANCES} instances per request.")
        served = self._resolve(match["service"], match["tag"], route_key)
        started = time.monotonic()
        try:
            status, reply, headers = self._answer(served, instances)
        except ApiError as e:
            self._record(served, e.http, started)
            raise
        self._record(served, status, started)
        return status, reply, headers

    def _record(self, served: Served, status: int, started: float) -> None:
        _, project, _, location, _, service = served.service.split("/")
        latency_ms = (time.monotonic() - started) * 1000.0
        self.app.served.record(
            Counted(
                project, location, service, served.revision, status, latency_ms, datetime.now(UTC)
            )
        )

    def _answer(self, served: Served, instances: list[Any]) -> Reply:
        headers = {REVISION_HEADER: served.revision}
        fails, added_s = self.app.faults.for_serving(served.revision)
        if added_s:
            time.sleep(added_s)  # the container is slow: the latency is real, and measured
        if fails:
            self._count("prediction_errors", served.revision)
            error = ApiError("INTERNAL", f"revision {served.revision}: injected error").body()
            return 500, {**error, "revision": served.revision}, headers
        try:
            model = self._model(served.storage_uri)
        except ArtifactError as e:
            error = ApiError(
                "UNAVAILABLE", f"revision {served.revision} cannot load its model: {e}"
            ).body()
            self._count("prediction_errors", served.revision)
            return 503, {**error, "revision": served.revision}, headers
        predictions = [model.predict(model.row(x, i)) for i, x in enumerate(instances)]
        self._count("predictions", served.revision)
        reply = {
            "predictions": predictions,
            "revision": served.revision,
            "model_version": served.version_label,
        }
        return 200, reply, headers

    def _count(self, what: str, revision: str) -> None:
        # Per revision too, so /_state shows how a split was actually served.
        with self.app.store.transaction() as store:
            store.bump(what)
            store.bump(f"{what}:{revision}")

    def _resolve(self, service_id: str, tag: str | None, route_key: str | None) -> Served:
        with self.app.store.transaction() as store:
            self.app.operations.finish_due(store)
            service = self._service(store.list(cloudrun.SERVICE), service_id)
            statuses = cloudrun.resolved_statuses(service)
            if tag is not None:
                tagged = [s for s in statuses if s.get("tag") == tag]
                if not tagged:
                    raise not_found(f"Tag '{tag}' of service '{service_id}'")
                statuses = [{**tagged[0], "percent": 100}]
            revision = choose(statuses, route_key, self.rng)
            if revision is None:
                raise ApiError("UNAVAILABLE", f"Service '{service_id}' serves no traffic yet.")
            doc = store.get(cloudrun.REVISION, f"{service['name']}/revisions/{revision}") or {}
        containers = doc.get("containers") or [{}]
        env = {e.get("name"): e.get("value") for e in containers[0].get("env") or []}
        labels = doc.get("labels") or {}
        return Served(
            revision, env.get("AIP_STORAGE_URI"), labels.get(VERSION_LABEL), service["name"]
        )

    def _service(self, services: list[dict[str, Any]], service_id: str) -> dict[str, Any]:
        preferred = (
            f"projects/{self.app.project}/locations/{self.app.location}/services/{service_id}"
        )
        found = [s for s in services if s["name"].rsplit("/", 1)[-1] == service_id]
        for service in found:
            if service["name"] == preferred:
                return service
        if len(found) != 1:
            raise not_found(f"Service '{service_id}'" + (" (ambiguous)" if found else ""))
        return found[0]

    def _model(self, storage_uri: str | None) -> LinearModel:
        if not storage_uri:
            raise ArtifactError("the revision has no AIP_STORAGE_URI")
        parts = urlsplit(storage_uri)
        if parts.scheme != "file":
            raise ArtifactError(f"{storage_uri}: the stand-in serves file:// artifacts only")
        path = Path(unquote(parts.path))
        if path.is_dir():
            path = path / MODEL_FILE
        try:
            stat = path.stat()
        except OSError as e:
            raise ArtifactError(f"{path}: {e.strerror or e}") from e
        # Keyed by mtime and size as well, so an artifact rewritten in place is read again.
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._models.get(key)
        if cached is None:
            cached = LinearModel.load(path)
            with self._lock:
                self._models[key] = cached
        return cached
