"""Local stack (stand-in): errors in Google's JSON shape, which google-api-core maps to exceptions."""

from __future__ import annotations

from typing import Any

# google.rpc.Code: (number, HTTP status) — the REST mapping Google's front ends use.
RPC_CODES: dict[str, tuple[int, int]] = {
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}
_STATUS_FOR_HTTP = {
    400: "INVALID_ARGUMENT",
    412: "FAILED_PRECONDITION",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_FOR_NUMBER = {number: name for name, (number, _) in RPC_CODES.items()}


class ApiError(Exception):
    """An API failure: `status` is the google.rpc.Code name, the HTTP code follows from it."""

    def __init__(
        self, status: str, message: str, http: int | None = None, raw: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http = http if http is not None else RPC_CODES[status][1]
        self.raw = raw  # a non-JSON body (an HTML error page), sent instead of Google's JSON

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.http, "message": self.message, "status": self.status}}


def status_for_http(http: int) -> str:
    return _STATUS_FOR_HTTP.get(http, "UNKNOWN" if http >= 500 else "INVALID_ARGUMENT")


def status_for_number(number: int) -> str:
    return _STATUS_FOR_NUMBER.get(number, "UNKNOWN")


def not_found(what: str) -> ApiError:
    return ApiError("NOT_FOUND", f"{what} not found.")


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)
