"""Adapters layer: one JSON call to a Google REST API (Vertex AI, Cloud Run, Pub/Sub) over urllib3.

The generated clients cost a function's cold start more than the call: `google.cloud.aiplatform_v1`
loads every Vertex service and type (~1.5 s), `run_v2` and `pubsub_v1` load gRPC and proto-plus
(~0.3-0.5 s each), and we need three or four endpoints of each. This speaks the same wire format
the clients' REST transport does (JSON, google.rpc.Status error bodies, enums by name), so the
errors are judged by the same `google_errors.rpc_status`, and the stand-in checks every body
against Google's discovery schemas. An http:// endpoint (the stand-in, the Pub/Sub emulator)
gets no credentials; any other gets an Application Default Credentials token, refreshed when it
expires and shared by every call of the process. Connections are kept alive and reused through
the standard library's http.client, which functions-framework has loaded already (urllib3 would
add its import to every cold start).
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from interlock.adapters.airflow_auth import GoogleTokenSource
from interlock.adapters.airflow_http import Answer, Http
from interlock.core.errors import TransientError
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


class Connections:
    """Keep-alive connections to one base URL, reused across calls and threads. A connection the
    server closed while idle is dropped before reuse, never retried after sending: a request
    whose answer was lost is the caller's to repeat (Pub/Sub redelivers)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.base_url = base_url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.timeout_s = timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.sock is not None and not select.select([conn.sock], [], [], 0)[0]:
                    return conn
                conn.close()  # readable while idle: the server closed it (or sent junk)
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def send(
        self, method: str, path: str, what: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        conn = self._take()
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise TransientError(f"{what} at {self.base_url}: {type(e).__name__}") from None
        if resp.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return Answer(resp.status, dict(resp.getheaders()), data)


class GoogleRest:
    """One endpoint (`host` or `http://host:port`), its connection pool and its token."""

    def __init__(self, endpoint: str, credentials: Any = None, timeout_s: float = 30.0) -> None:
        base = endpoint if endpoint.startswith(("http://", "https://")) else f"https://{endpoint}"
        self.http = Http(base, read_timeout_s=timeout_s)  # its timeouts, for token refreshes
        self._connections = Connections(base, timeout_s)
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
