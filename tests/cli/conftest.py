"""Fixtures of the CLI tests: a function URL whose handler decides on fakes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from interlock.core.inbound import parse_document
from interlock_dev.processes import free_port
from tests.builders import policy
from tests.handlers.world import World


@pytest.fixture
def world_url():
    """A function URL deciding every posted CloudEvent with a World's handler."""
    world = World()
    world.handler.policy = policy(canary={"steps": [10, "approve", 100], "hold_windows": 1})

    class Deliver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            world.handler.handle(parse_document(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port(47320)), Deliver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield world, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
