"""Adapters layer: google-api-core errors → TransientError / PermanentError, shared by GAPIC adapters.

Over the REST transport google-api-core picks the exception class from the HTTP code alone:
every 400 is `BadRequest` (INVALID_ARGUMENT and FAILED_PRECONDITION alike) and every 409 is
`Conflict` (ABORTED and ALREADY_EXISTS alike). The google.rpc status name is only in the JSON
body, so we read it from there and decide on it — never on the message's wording, which varies
("Requested entity already exists" and "… with different configuration already exists" are one
status). Upstream text is data: every message enters a reason as one bounded line (`one_line`),
whether Google sent JSON, a front end an HTML page, or a proxy a megabyte of anything.
"""

from __future__ import annotations

import re
from typing import Any

from interlock.core.errors import InterlockError, PermanentError, TransientError
from interlock.core.text import one_line

# ALREADY_EXISTS: the name is taken by something else; a retry meets the same thing.
PERMANENT = frozenset(
    {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "PERMISSION_DENIED", "OUT_OF_RANGE",
     "UNIMPLEMENTED", "ALREADY_EXISTS"}
)  # fmt: skip
MESSAGE_LIMIT = 300
_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def rpc_status(exc: Any) -> str:
    """The google.rpc.Code name of a GoogleAPICallError, from the REST body when there is one."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            status = response.json().get("error", {}).get("status")
        except (ValueError, AttributeError):
            status = None
        if isinstance(status, str) and status.isupper() and len(status) <= 40:
            return status
    # Over gRPC `response` is the call object (no JSON body): the exact code is on the exception.
    grpc_code = getattr(exc, "grpc_status_code", None)
    if grpc_code is not None:
        return str(grpc_code.name)
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return _BY_HTTP.get(code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")
    return "UNKNOWN"


_REQUEST_PREFIX = re.compile(r"^(?:GET|POST|PATCH|PUT|DELETE) https?://\S+: ")


def message_of(exc: Any) -> str:
    """The exception's message as one bounded printable line, without the REST transport's
    `GET http://…%40…?%24alt=json…: ` prefix (the action already says what was asked)."""
    text = one_line(getattr(exc, "message", None) or exc, MESSAGE_LIMIT)
    return _REQUEST_PREFIX.sub("", text, count=1)


def translate(exc: Exception, field: str, action: str) -> InterlockError:
    """Map a client-side failure of `action` to retry (transient) or dead-letter (permanent)."""
    from interlock.adapters.google_rest import GoogleCallError

    if isinstance(exc, GoogleCallError) or _is_api_call_error(exc):
        status = rpc_status(exc)
        reason = f"{action}: {status}: {message_of(exc)}"
        if status in PERMANENT:
            return PermanentError(field, reason)
        return TransientError(reason)
    # RetryError, timeouts, connection resets, token refresh failures: all worth a redelivery.
    return TransientError(f"{action}: {type(exc).__name__}: {one_line(exc, MESSAGE_LIMIT)}")


def _is_api_call_error(exc: Exception) -> bool:
    """A google-api-core call error, without importing api-core for our own REST calls."""
    from google.api_core import exceptions as gexc

    return isinstance(exc, gexc.GoogleAPICallError)


def client_failures() -> tuple[type[Exception], ...]:
    """The exception types a GAPIC call can raise that we translate (imported lazily)."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    return (
        gexc.GoogleAPIError,
        requests.exceptions.RequestException,
        auth_exc.TransportError,
        auth_exc.RefreshError,
        TimeoutError,
    )
