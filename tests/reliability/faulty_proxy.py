"""A forwarding proxy in front of the real Airflow API that can answer 503/429 or refuse
connections for a while — the fault switch Airflow itself does not have."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from interlock_dev.processes import HOST, free_port


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"  # "pass" | "503" | "429" | "down"
        self.faults_served = 0
        self.forwarded_posts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self, method: str) -> None:
                if proxy.mode == "down":
                    proxy.faults_served += 1
                    self.connection.close()  # as if nothing listened
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.mode in ("503", "429") and not self.path.startswith("/auth/"):
                    proxy.faults_served += 1
                    self.send_response(int(proxy.mode))
                    if proxy.mode == "429":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"detail": "injected"}')
                    return
                if method == "POST" and "/dagRuns" in self.path:
                    proxy.forwarded_posts += 1
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=method, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload, content_type = (
                            response.status,
                            response.read(),
                            response.headers.get("Content-Type", ""),
                        )
                except urllib.error.HTTPError as err:
                    status, payload, content_type = (
                        err.code,
                        err.read(),
                        err.headers.get("Content-Type", ""),
                    )
                self.send_response(status)
                self.send_header("Content-Type", content_type or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._relay("GET")

            def do_POST(self) -> None:
                self._relay("POST")

        self.server = ThreadingHTTPServer((HOST, free_port(47480)), Handler)
        self.url = f"http://{HOST}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
