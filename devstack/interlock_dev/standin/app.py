"""Local stack (stand-in): the shared context handlers run in — store, faults, operations, ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from interlock_dev.standin.faults import Faults
from interlock_dev.standin.monitoring import ServedLog
from interlock_dev.standin.operations import Operations
from interlock_dev.standin.requests_log import RequestLog
from interlock_dev.standin.store import Store


@dataclass
class StandIn:
    store: Store
    faults: Faults
    operations: Operations
    project: str
    location: str
    # http://host:port the server listens on; Cloud Run service uris point here (predict.py).
    base_url: str = ""
    # Bodies that broke Google's discovery schemas (the schema check), for /_state.
    violations: list[str] = field(default_factory=list)
    # Every prediction request served, for Cloud Monitoring's time series (monitoring.py).
    served: ServedLog = field(default_factory=ServedLog)
    # The API requests received, when a test turned recording on (`/_requests`).
    requests: RequestLog = field(default_factory=RequestLog)
