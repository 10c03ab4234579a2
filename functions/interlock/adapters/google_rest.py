"""Adapters layer: one JSON call to a Google REST API (Vertex AI, Cloud Run, Pub/Sub).

The generated clients cost a function's cold start more than the call: `google.cloud.aiplatform_v1`
loads every Vertex service and type (~1.5 s), `run_v2` and `pubsub_v1` load gRPC and proto-plus
(~0.3-0.5 s each), and we need three or four endpoints of each. This speaks the same wire format
the clients' REST transport does (JSON, google.rpc.Status error bodies, enums by name), so the
errors are judged by the same `google_errors.rpc_status`, and the stand-in checks every body
against Google's discovery schemas. An http:// endpoint (the stand-in, the Pub/Sub emulator)
gets no credentials; any other gets an Application Default Credentials token, refreshed when it
expires and shared by every call of the process. Connections are kept alive and reused
(adapters/connections.py, shared with the Airflow calls).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from interlock.adapters.airflow_auth import GoogleTokenSource
from interlock.adapters.airflow_http import Http
from interlock.adapters.connections import Answer, Connections
from interlock.core.text import one_line


class GoogleCallError(Exception):
    """A non-2xx answer: `code` (HTTP), `message`, and `response` (its JSON body) as
    google-api-core's GoogleAPICallError has them, so `google_errors` reads both alike."""

    def __init__(self, answer: Answer) -> None:
        self.code = answer.status
        self.response = answer
        body = answer.json()
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        self.message = one_line(message if isinstance(message, str) else answer.detail(), 300)
        super().__init__(f"{self.code} {self.message}")

    @property
    def status(self) -> str:
        from interlock.adapters.google_errors import rpc_status

        return rpc_status(self)


class GoogleRest:
    """One endpoint (`host` or `http://host:port`), its connection pool and its token."""

    def __init__(self, endpoint: str, credentials: Any = None, timeout_s: float = 30.0) -> None:
        base = endpoint if endpoint.startswith(("http://", "https://")) else f"https://{endpoint}"
        self.http = Http(base, read_timeout_s=timeout_s)  # its timeouts, for token refreshes
        self._connections = Connections(base, self.http.timeout_s[0], timeout_s)
        anonymous = credentials is None and base.startswith("http://")
        self._auth = None if anonymous else GoogleTokenSource(credentials)

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Mapping[str, object] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The answer's JSON object; `GoogleCallError` for an error answer, `TransientError`
        when the endpoint cannot be reached."""
        headers = {"Accept": "application/json"}
        if self._auth is not None:
            headers["Authorization"] = self._auth.authorization(self.http, None)
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        answer = self._connections.send(method, path, what, data, headers)
        if not 200 <= answer.status < 300:
            raise GoogleCallError(answer)
        found = answer.json()
        return found if isinstance(found, dict) else {}
