"""Adapters layer: one HTTP exchange with Airflow's REST API, and reading what it answered.

Both API versions (v1 on Airflow 2, v2 on Airflow 3) are plain JSON over keep-alive
connections (adapters/connections.py, shared with the Google REST calls). The
generated clients would cost more than they give: apache-airflow-client 2.x and 3.x cannot share
a venv, the 3.x one takes ~0.7 s to import, and we need four endpoints and three fields.
Text from Airflow is data: `Answer.detail()` makes it one bounded line before it enters a reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from interlock.adapters.connections import Answer, Connections

__all__ = ["Answer", "Http"]


class Http:
    """Keep-alive connections to one Airflow base URL with our timeouts; `send` answers or
    raises `TransientError` (connection refused, reset, timed out)."""

    def __init__(
        self, base_url: str, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = (connect_timeout_s, read_timeout_s)
        self._connections = Connections(self.base_url, connect_timeout_s, read_timeout_s)

    def send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        return self._connections.send(method, path, what, data, sent)
