"""A burst of N objects into one pipeline, twice in the same run: one DAG run per object (no
`batch:`), then batched windows. Each notification is delivered 1 to 3 times, shuffled, by
concurrent workers, through the real handler on the real SQLite ledger and the local bucket;
Airflow is an in-memory DagTrigger that counts the API calls each mode makes (a trigger is one
POST, and a 409 a second GET). Prints one line, e.g.

    burst 10,000 objects: per-object 10,000 runs / batched 20 runs, lost 0, duplicates 0, ...
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO))

from interlock.adapters.ledger_sqlite import SqliteLedger  # noqa: E402
from interlock.adapters.storage_local import LocalObjectStore  # noqa: E402
from interlock.core.events import DataLanded  # noqa: E402
from interlock.core.inbound import Inbound  # noqa: E402
from interlock.core.policy_load import load_policy  # noqa: E402
from interlock.handlers import Handler, Topics  # noqa: E402
from interlock.ports import DagRun, Ports, same_run_conf  # noqa: E402
from interlock.tick import Ticker, standard_chores  # noqa: E402

BUCKET = "landing"
PARTITIONS = 4


class CountingAirflow:
    """Airflow's trigger semantics (409 → read back, same conf → the same run), calls counted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, Mapping[str, object]] = {}
        self.calls = 0

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        stored = json.loads(json.dumps(dict(conf)))
        with self.lock:
            self.calls += 1
            existing = self.runs.get(run_id)
            if existing is None:
                self.runs[run_id] = stored
                return DagRun(dag_id, run_id, "queued", stored, True)
            self.calls += 1  # the GET after the 409
        if not same_run_conf(existing, stored):
            from interlock.core.errors import PermanentError

            raise PermanentError("run_id", f"run {run_id} exists with another conf")
        return DagRun(dag_id, run_id, "queued", existing, False)


class NullBus:
    def publish(self, topic: str, message: object) -> str:
        return "0"


def policy(batched: bool, max_objects: int) -> Any:
    doc = {
        "version": 1,
        "pipelines": [{"name": "burst", "bucket": BUCKET, "prefix": "exports/", "glob": "*.csv",
                       "dag_id": "train_on_arrival", "conf": {"model": "churn"}}],
        "models": [],
    }  # fmt: skip
    if batched:
        doc["pipelines"][0]["batch"] = {
            "quiet": "2m", "max_wait": "15m", "max_objects": max_objects, "sentinel": "_SUCCESS",
            "partition": "dt=([^/]+)/",
        }  # fmt: skip
    return load_policy(copy.deepcopy(doc))


def run_mode(batched: bool, n: int, workers: int, max_objects: int, root: Path) -> dict[str, Any]:
    store = LocalObjectStore(root / "buckets")
    ledger = SqliteLedger(root / "ledger.db")
    airflow = CountingAirflow()
    ports = Ports(
        ledger=lambda: ledger,
        bus=NullBus,
        dags=lambda: airflow,  # type: ignore[arg-type,return-value]
        registry=lambda: None,
        router=lambda: None,
        storage=lambda: store,
    )  # type: ignore[arg-type,return-value]
    clock = lambda: datetime.now(UTC)  # noqa: E731
    handler = Handler(policy(batched, max_objects), ports, Topics("d", "dl"), clock)
    rng = random.Random(5)
    objects = [store.put(BUCKET, f"exports/dt={i % PARTITIONS}/part-{i:05d}.csv", b"a,target\n1,0\n")
               for i in range(n)]  # fmt: skip
    deliveries = [o for o in objects if o is not None for _ in range(rng.randint(1, 3))]
    rng.shuffle(deliveries)
    kinds: dict[str, int] = {}

    def deliver(i_obj: tuple[int, Any]) -> None:
        i, o = i_obj
        landed = DataLanded(BUCKET, o.name, o.generation, o.size, o.md5, o.time_created)
        kind = handler.handle(Inbound(f"m{i}", "t", "bench", None, landed)).kind
        with airflow.lock:
            kinds[kind] = kinds.get(kind, 0) + 1

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(deliver, enumerate(deliveries)))
        if batched:
            sentinels = [
                store.put(BUCKET, f"exports/dt={p}/_SUCCESS", b"") for p in range(PARTITIONS)
            ]
            list(pool.map(deliver, enumerate(sentinels, start=len(deliveries))))
    if batched:  # the tick closes whatever the sentinels' windows left (max_objects overflow)
        handler.clock = lambda: datetime(2999, 1, 1, tzinfo=UTC)
        Ticker(handler, chores=standard_chores()).tick()
    wall = time.monotonic() - started
    notified = {o.uri for o in objects if o is not None}
    if batched:
        covered: list[str] = []
        for conf in airflow.runs.values():
            name = str(conf["manifest_uri"]).removeprefix(f"gs://{BUCKET}/")
            covered += [e["uri"] for e in json.loads(store.read(BUCKET, name) or b"{}")["objects"]]
    else:
        covered = [str(conf["object"]) for conf in airflow.runs.values()]
    return {
        "runs": len(airflow.runs), "calls": airflow.calls, "wall": wall,
        "lost": len(notified - set(covered)), "duplicates": len(covered) - len(set(covered)),
        "dead": kinds.get("dead_lettered", 0), "deliveries": len(deliveries),
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--max-objects", type=int, default=500)
    args = ap.parse_args()
    # The handlers log a JSON line per decision: kept out of the one line this prints.
    with (
        tempfile.TemporaryDirectory(prefix="interlock-burst-") as tmp,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        one = run_mode(
            False, args.objects, args.workers, args.max_objects, Path(tmp) / "per-object"
        )
        many = run_mode(True, args.objects, args.workers, args.max_objects, Path(tmp) / "batched")
    print(
        f"burst {args.objects:,} objects: per-object {one['runs']:,} runs / batched {many['runs']:,} runs, "
        f"lost {one['lost'] + many['lost']}, duplicates {one['duplicates'] + many['duplicates']}, "
        f"dead-lettered {one['dead'] + many['dead']}; Airflow API calls {one['calls']:,} / {many['calls']:,}; "
        f"wall {one['wall']:.1f} s / {many['wall']:.1f} s ({one['deliveries']:,} deliveries each, "
        f"{args.workers} workers, batched windows of at most {args.max_objects})"
    )
    return 0 if not (one["lost"] or many["lost"] or one["duplicates"] or many["duplicates"]) else 1


if __name__ == "__main__":
    sys.exit(main())
