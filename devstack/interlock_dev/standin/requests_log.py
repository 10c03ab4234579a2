"""Local stack (stand-in): an opt-in log of the API requests received, for parity tests.

tests/contract/test_official_clients.py sends one operation through Google's generated client
and through our adapter and compares what arrived: method, path, every query parameter (repeated
ones too) and the JSON body as sent. Off until `POST /_requests`; `GET /_requests` lists what was
recorded since (each entry with its `seq`), `DELETE /_requests` empties it and turns it off.
Test state, like faults: in memory, bounded, gone on restart.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

KEPT = 500


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._seq = 0
        self.recording = False

    def record(self, method: str, path: str, query: list[tuple[str, str]], raw: bytes) -> None:
        """One request as it arrived: `body` its JSON (None when empty, the text when not JSON)."""
        if not self.recording:
            return
        try:
            body: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self._seq += 1
            self._entries.append(
                {"seq": self._seq, "method": method, "path": path,
                 "query": [list(pair) for pair in query], "body": body}
            )  # fmt: skip

    def start(self) -> dict[str, Any]:
        with self._lock:
            self.recording = True
            return {"recording": True, "seq": self._seq}

    def stop(self) -> dict[str, Any]:
        with self._lock:
            self.recording = False
            self._entries.clear()
            return {"recording": False, "seq": self._seq}

    def since(self, seq: int) -> dict[str, Any]:
        with self._lock:
            return {"recording": self.recording, "seq": self._seq,
                    "requests": [e for e in self._entries if e["seq"] > seq]}  # fmt: skip
