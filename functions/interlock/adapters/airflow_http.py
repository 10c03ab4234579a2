"""Adapters layer: one HTTP exchange with Airflow's REST API, and reading what it answered.

Both API versions (v1 on Airflow 2, v2 on Airflow 3) are plain JSON over one urllib3 pool. The
generated clients would cost more than they give: apache-airflow-client 2.x and 3.x cannot share
a venv, the 3.x one takes ~0.7 s to import, and we need four endpoints and three fields.
Text from Airflow is data: `Answer.detail()` makes it one bounded line before it enters a reason.
"""

from __future__ import annotations

import json
import threading
import time
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


class Http:
    """A urllib3 pool for one Airflow base URL with our timeouts; `send` answers or raises
    `TransientError` (connection refused, reset, timed out). urllib3 loads on the first call."""

    def __init__(
        self, base_url: str, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = (connect_timeout_s, read_timeout_s)
        self._pool: Any = None
        self._lock = threading.Lock()

    def _pool_manager(self) -> Any:
        with self._lock:
            if self._pool is None:
                import urllib3

                # One quick reconnect on a refused/reset connection; never re-send a request
                # whose answer was lost (the retry is Pub/Sub's, and the run id's 409 covers it).
                # Redirects are returned, not followed: one means a wrong URL or a login page.
                retries = urllib3.Retry(
                    total=1, connect=1, read=0, redirect=False, status=0, other=0
                )
                self._pool = urllib3.PoolManager(retries=retries)
            return self._pool

    def send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        import urllib3

        pool = self._pool_manager()
        sent = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            resp = pool.request(
                method,
                f"{self.base_url}{path}",
                body=data,
                headers=sent,
                timeout=urllib3.Timeout(connect=self.timeout_s[0], read=self.timeout_s[1]),
                redirect=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientError(f"{what} at {self.base_url}: {type(e).__name__}") from None
        return Answer(resp.status, dict(resp.headers), resp.data)
