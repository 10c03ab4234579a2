"""Local stack (stand-in): injected faults — error replies, latency, failing operations.

Faults are test state, not API state: they live in memory and vanish on restart. One switch
chooses between behaviours of Google's that nobody has observed yet (settled by `make
conformance`): how a stale etag is answered, `POST /_faults {"stale_etag": "ABORTED" |
"FAILED_PRECONDITION"}`; `DELETE /_faults` resets it to ABORTED (AIP-154) with the faults.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from interlock_dev.standin.errors import RPC_CODES, ApiError, invalid, status_for_http


@dataclass
class Fault:
    match: str  # a substring of "METHOD /path?query" ("METHOD /path" for operations); "" any
    status: int | None = None
    message: str = "injected fault"
    latency_s: float = 0.0
    operation_error: dict[str, Any] | None = None  # google.rpc.Status for the next operation
    count: int | None = None  # None: forever
    # With `status`: the google.rpc.Code name in the body (else the usual one for the HTTP code),
    # or a raw text/html `body` instead of Google's JSON, as a front end's error page is.
    rpc_status: str | None = None
    body: str | None = None
    # With `operation_error`: the revision the operation creates stays, not ready (Ready=False),
    # as Cloud Run keeps a revision whose container failed; without it, none is created.
    revision_fails: bool | None = None

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_fault(body: dict[str, Any]) -> Fault:
    status = body.get("status")
    latency = float(body.get("latency_s", 0.0))
    op_error = body.get("operation_error")
    count = body.get("count")
    if status is None and not latency and op_error is None:
        raise invalid("a fault needs one of: status, latency_s, operation_error")
    if status is not None and not 400 <= int(status) <= 599:
        raise invalid("fault status must be an HTTP error code")
    if op_error is not None and not isinstance(op_error.get("code"), int):
        raise invalid("operation_error needs an integer google.rpc.Code in 'code'")
    if count is not None and int(count) < 1:
        raise invalid("fault count must be >= 1")
    rpc = body.get("rpc_status")
    if rpc is not None and rpc not in RPC_CODES:
        raise invalid(f"rpc_status must be a google.rpc.Code name, got {rpc!r}")
    return Fault(
        match=str(body.get("match", "")),
        status=None if status is None else int(status),
        message=str(body.get("message", "injected fault")),
        latency_s=latency,
        operation_error=op_error,
        count=None if count is None else int(count),
        rpc_status=rpc,
        body=None if body.get("body") is None else str(body["body"]),
        revision_fails=bool(body["revision_fails"]) if "revision_fails" in body else None,
    )


@dataclass
class ServingFault:
    """What one revision's container does to the requests it serves: a share of 500s (exactly
    `error_rate` of them, spread evenly) and added latency. Counted by Cloud Monitoring."""

    revision: str
    error_rate: float = 0.0
    latency_s: float = 0.0
    served: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "error_rate": self.error_rate,
            "latency_s": self.latency_s,
        }

    def next_fails(self) -> bool:
        n, self.served = self.served, self.served + 1
        return math.floor((n + 1) * self.error_rate) > math.floor(n * self.error_rate)


def parse_serving_fault(body: dict[str, Any]) -> ServingFault:
    """`{"revision": "churn-v2", "error_rate": 0.2, "latency_s": 0.05}`; 0 and 0 lift it."""
    revision = body.get("revision")
    if not isinstance(revision, str) or not revision:
        raise invalid("a serving fault names its revision")
    unknown = set(body) - {"revision", "error_rate", "latency_s"}
    if unknown:
        raise invalid(
            f"a serving fault takes revision, error_rate, latency_s; not {sorted(unknown)}"
        )
    rate, latency = float(body.get("error_rate", 0.0)), float(body.get("latency_s", 0.0))
    if not 0.0 <= rate <= 1.0:
        raise invalid("error_rate must be between 0 and 1")
    if not 0.0 <= latency <= 30.0:
        raise invalid("latency_s must be between 0 and 30")
    return ServingFault(revision, rate, latency)


STALE_ETAG_REPLIES = ("ABORTED", "FAILED_PRECONDITION")


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._serving: dict[str, ServingFault] = {}
        self.fired = 0
        self.stale_etag = "ABORTED"  # AIP-154's choice; Cloud Run's own is unverified

    def configure(self, body: dict[str, Any]) -> None:
        """`{"stale_etag": …}`: a switch, not a fault; it holds until `clear`."""
        reply = body.get("stale_etag")
        if reply not in STALE_ETAG_REPLIES:
            raise invalid(f"stale_etag must be one of {', '.join(STALE_ETAG_REPLIES)}")
        self.stale_etag = str(reply)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._serving.clear()
            self.stale_etag = "ABORTED"

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults] + [
                s.describe() for s in self._serving.values()
            ]

    def set_serving(self, fault: ServingFault) -> None:
        with self._lock:
            if fault.error_rate or fault.latency_s:
                self._serving[fault.revision] = fault
            else:
                self._serving.pop(fault.revision, None)

    def for_serving(self, revision: str) -> tuple[bool, float]:
        """(answer this request with a 500?, seconds to add) for a request `revision` serves."""
        with self._lock:
            fault = self._serving.get(revision)
            if fault is None:
                return False, 0.0
            return fault.next_fails(), fault.latency_s

    def _take(self, request_line: str, kind: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match not in request_line:
                    continue
                if kind == "reply" and fault.status is None and not fault.latency_s:
                    continue
                if kind == "operation" and fault.operation_error is None:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                self.fired += 1
                return fault
        return None

    def for_reply(self, request_line: str) -> Fault | None:
        """A latency and/or error fault for this request, consuming one use."""
        return self._take(request_line, "reply")

    def for_operation(self, request_line: str) -> Fault | None:
        """The fault whose `operation_error` an operation started by this request ends with."""
        return self._take(request_line, "operation")


def reply_error(fault: Fault) -> ApiError:
    assert fault.status is not None
    status = fault.rpc_status or status_for_http(fault.status)
    return ApiError(status, fault.message, http=fault.status, raw=fault.body)
