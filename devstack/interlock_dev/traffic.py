"""Dev tooling: a traffic generator — real prediction requests on a Cloud Run service's uri.

The demo runs it throughout: the stand-in serves each request from a revision by the traffic
split and records it for Cloud Monitoring (standin/monitoring.py), so the observer reads what was
actually served. Errors are counted, never raised: a degraded revision is the point.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter


class Traffic:
    def __init__(self, url: str, rate_per_s: float = 60.0, width: int = 30) -> None:
        self.url = url.rstrip("/") + "/predict"
        self.period_s = 1.0 / rate_per_s
        self.body = json.dumps({"instances": [[0.0] * width]}).encode()
        self.served: Counter[str] = Counter()  # "v2 200", "v2 500", …
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.served[self._one()] += 1
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - started)))

    def _one(self) -> str:
        request = urllib.request.Request(  # noqa: S310 (loopback)
            self.url, data=self.body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return f"v{json.loads(response.read()).get('model_version')} {response.status}"
        except urllib.error.HTTPError as e:
            return f"{e.headers.get('X-Interlock-Revision', '?')} {e.code}"
        except OSError as e:  # the stack is stopping, or not up yet
            return f"unreachable {type(e).__name__}"
