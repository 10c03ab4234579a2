"""Local stack (stand-in): `python -m interlock_dev.standin --port P --db PATH`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from interlock_dev.standin.server import make_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interlock_dev.standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite file; state survives restarts")
    parser.add_argument("--project", default="interlock-local")
    parser.add_argument("--location", default="us-central1")
    parser.add_argument(
        "--operation-delay",
        type=float,
        default=0.3,
        help="seconds before a long-running operation finishes (clients must poll)",
    )
    parser.add_argument(
        "--schema-check",
        action="store_true",
        help="hold every body to Google's discovery documents (needs google-api-python-client)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = make_server(
        args.host,
        args.port,
        args.db,
        args.project,
        args.location,
        args.operation_delay,
        args.schema_check,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it cannot run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.info(
        "stand-in serving Vertex AI v1 and Cloud Run v2 on http://%s:%d (project %s, location %s)",
        args.host,
        args.port,
        args.project,
        args.location,
    )
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
