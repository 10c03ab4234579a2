"""Adapters layer: keep-alive HTTP connections to one base URL (Airflow, Google REST APIs alike).

The standard library's http.client, which functions-framework has loaded already: urllib3 would
add its import to every cold start that calls out. `Answer` is what came back, read as data.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlock.core.errors import TransientError
from interlock.core.text import one_line


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (an HTML error page, a proxy's text)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def detail(self) -> str:
        """The server's `detail` (or its whole body) as one readable line: Airflow's error
        bodies echo the request at most, never our headers, so no credential is in them."""
        parsed = self.json()
        detail = parsed.get("detail") if isinstance(parsed, dict) else None
        if detail is None:
            detail = parsed.get("title") if isinstance(parsed, dict) else None
        if detail is None:
            detail = self.body.decode(errors="replace")
        text = detail if isinstance(detail, str) else json.dumps(detail)
        return one_line(text, 300) or "(empty answer)"

    def retry_after_s(self) -> float | None:
        value = (self.headers or {}).get("Retry-After")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        import email.utils  # only for the rare HTTP-date form

        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Connections:
    """Keep-alive connections to one base URL, reused across calls and threads. A connection the
    server closed while idle is dropped before reuse. A refused or reset connect is tried once
    more (nothing was sent); a request whose answer was lost is never re-sent: that is the
    caller's to repeat (Pub/Sub redelivers; Airflow's run id makes a repeat a 409). Redirects
    are returned, not followed: one means a wrong URL or a login page."""

    def __init__(self, base_url: str, connect_timeout_s: float, read_timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.base_url = base_url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")  # Airflow behind a path (a proxy's /airflow)
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.sock is not None and not select.select([conn.sock], [], [], 0)[0]:
                    return conn
                conn.close()  # readable while idle: the server closed it (or sent junk)
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = kind(self.host, self.port, timeout=self.connect_timeout_s)
        try:
            conn.connect()
        except (ConnectionRefusedError, ConnectionResetError):
            conn.close()
            conn.connect()  # once more: a server restarting, a pool recycling
        if conn.sock is not None:
            conn.sock.settimeout(self.read_timeout_s)
        return conn

    def send(
        self, method: str, path: str, what: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        try:
            conn = self._take()
        except OSError as e:
            raise TransientError(f"{what} at {self.base_url}: {type(e).__name__}") from None
        try:
            conn.request(method, self.prefix + path, body=body, headers=dict(headers))
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
