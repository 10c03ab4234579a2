"""DAG helpers: JSON over HTTP with urllib (the Airflow venv has no Google client), and LRO polls.

Every call has an explicit timeout. 5xx and connection failures raise `Unavailable` so the task
fails and Airflow's retries take over; 4xx raise `Refused` with the server's message.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

TIMEOUT_S = 30.0


class Refused(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Unavailable(RuntimeError):
    pass


def call(
    method: str,
    url: str,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    timeout_s: float = TIMEOUT_S,
) -> tuple[int, dict[str, Any]]:
    """(status, JSON reply or {}) for a 2xx; raise Refused / Unavailable otherwise."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked above)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            raw = response.read()
            return response.status, _json(raw)
    except urllib.error.HTTPError as e:
        message = _message(e.read())
        if e.code >= 500 or e.code == 429:
            raise Unavailable(f"{method} {url}: HTTP {e.code}: {message}") from e
        raise Refused(e.code, f"{method} {url}: {message}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise Unavailable(f"{method} {url}: {e}") from e


def _json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"text": raw.decode(errors="replace")[:500]}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _message(raw: bytes) -> str:
    body = _json(raw)
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('status', '')} {error['message']}".strip()
    return json.dumps(body)[:500]


def wait_operation(
    endpoint: str, operation: Mapping[str, Any], api: str = "v1", timeout_s: float = 600.0
) -> dict[str, Any]:
    """Poll a google.longrunning.Operation until done; its `response`, or raise with its error."""
    op = dict(operation)
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while not op.get("done"):
        if time.monotonic() > deadline:
            raise Unavailable(f"operation {op.get('name')} not done after {timeout_s:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
        _, op = call("GET", f"{endpoint}/{api}/{op['name']}")
    if op.get("error"):
        error = op["error"]
        raise RuntimeError(
            f"operation {op.get('name')} failed: {error.get('code')} {error.get('message')}"
        )
    response: dict[str, Any] = op.get("response") or {}
    return response
