"""Local stack (stand-in): injected faults — error replies, latency, failing operations.

Faults are test state, not API state: they live in memory and vanish on restart. One switch
chooses between behaviours of Google's that nobody has observed yet (settled by `make
conformance`): how a stale etag is answered, `POST /_faults {"stale_etag": "ABORTED" |
"FAILED_PRECONDITION"}`; `DELETE /_faults` resets it to ABORTED (AIP-154) with the faults.
"""

from __future__ import annotations

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


STALE_ETAG_REPLIES = ("ABORTED", "FAILED_PRECONDITION")


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
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
            self.stale_etag = "ABORTED"

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

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
