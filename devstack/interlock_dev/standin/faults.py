"""Local stack (stand-in): injected faults — error replies, latency, failing operations.

Faults are test state, not API state: they live in memory and vanish on restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from interlock_dev.standin.errors import ApiError, invalid, status_for_http


@dataclass
class Fault:
    match: str  # a substring of "METHOD /path"; "" matches every API request
    status: int | None = None
    message: str = "injected fault"
    latency_s: float = 0.0
    operation_error: dict[str, Any] | None = None  # google.rpc.Status for the next operation
    count: int | None = None  # None: forever

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
    return Fault(
        match=str(body.get("match", "")),
        status=None if status is None else int(status),
        message=str(body.get("message", "injected fault")),
        latency_s=latency,
        operation_error=op_error,
        count=None if count is None else int(count),
    )


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired = 0

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

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

    def for_operation(self, request_line: str) -> dict[str, Any] | None:
        """The google.rpc.Status an operation started by this request must end with, if any."""
        fault = self._take(request_line, "operation")
        return None if fault is None else fault.operation_error


def reply_error(fault: Fault) -> ApiError:
    assert fault.status is not None
    return ApiError(status_for_http(fault.status), fault.message, http=fault.status)
