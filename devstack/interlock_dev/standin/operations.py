"""Local stack (stand-in): google.longrunning.Operation — started now, finished after a delay.

An operation records what it will do (`kind` + `payload`); whoever reads the store first after
its deadline finishes it, so polling clients, and plain GETs of the resource, see it complete.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from interlock_dev.standin.errors import not_found
from interlock_dev.standin.store import Store

# (store, payload) -> response message JSON with its "@type"
Finisher = Callable[[Store, dict[str, Any]], dict[str, Any]]
# (store, payload, google.rpc.Status) -> None: what a failed operation leaves behind
Failer = Callable[[Store, dict[str, Any], dict[str, Any]], None]

KIND = "operation"
PENDING = "operation.pending"


class Operations:
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._finishers: dict[str, tuple[Finisher, Failer | None]] = {}

    def register(self, kind: str, finish: Finisher, fail: Failer | None = None) -> None:
        self._finishers[kind] = (finish, fail)

    def start(
        self,
        store: Store,
        parent: str,
        kind: str,
        payload: dict[str, Any],
        metadata: dict[str, Any],
        error: dict[str, Any] | None = None,
        numeric_id: bool = False,
    ) -> dict[str, Any]:
        """Record a pending operation under `parent` (…/operations/<id>) and return its JSON."""
        # Vertex operation ids are decimal int64s; Cloud Run's are UUIDs.
        op_id = str(uuid.uuid4().int % (1 << 62)) if numeric_id else str(uuid.uuid4())
        name = f"{parent}/operations/{op_id}"
        op = {
            "name": name,
            "kind": kind,
            "payload": payload,
            "metadata": metadata,
            "doneAt": time.time() + self.delay_s,
            "done": False,
            "plannedError": error,
        }
        store.put(KIND, name, op)
        store.put(PENDING, name, {"name": name})
        store.bump("operations_started")
        return public(op)

    def get(self, store: Store, name: str) -> dict[str, Any]:
        op = store.get(KIND, name)
        if op is None:
            raise not_found(f"Operation {name}")
        return public(op)

    def finish_due(self, store: Store) -> None:
        now = time.time()
        for pending in store.list(PENDING):
            op = store.get(KIND, pending["name"])
            if op is None or op["doneAt"] > now:
                continue
            finish, fail = self._finishers[op["kind"]]
            if op.get("plannedError"):
                op["error"] = op["plannedError"]
                if fail is not None:
                    fail(store, op["payload"], op["error"])
                store.bump("operations_failed")
            else:
                op["response"] = finish(store, op["payload"])
            op["done"] = True
            store.put(KIND, op["name"], op)
            store.delete(PENDING, op["name"])


def public(op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": op["name"], "metadata": op["metadata"], "done": op["done"]}
    if "error" in op:
        out["error"] = op["error"]
    elif "response" in op:
        out["response"] = op["response"]
    return out
