"""Local stack (stand-in): the HTTP server — decoding, faults, dispatch, Google error replies.

Predictions sit under `/run/` (each Cloud Run service's `uri`, predict.py). Control endpoints for
tests sit under `/_`: `POST|DELETE|GET /_faults`, `GET /_state`, `GET /_health`, and the opt-in
request log `POST|GET|DELETE /_requests` (requests_log.py). With
`schema_check` every API body is held to Google's discovery documents (discovery.py).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from interlock_dev.standin import cloudrun, monitoring, predict, run_delete, vertex
from interlock_dev.standin.app import StandIn
from interlock_dev.standin.discovery import Discovery
from interlock_dev.standin.errors import ApiError, invalid
from interlock_dev.standin.faults import Faults, parse_fault, parse_serving_fault, reply_error
from interlock_dev.standin.operations import Operations
from interlock_dev.standin.routing import SEG, Request, Router
from interlock_dev.standin.store import Store
from interlock_dev.standin.wire import enums_to_names, enums_to_numbers, project_number

log = logging.getLogger("interlock.standin")
MAX_BODY = 10 * 1024 * 1024


def build_router(app: StandIn) -> Router:
    router = Router()
    vertex.register(router, app)
    cloudrun.register(router, app)
    run_delete.register(router, app)
    monitoring.register(router, app.served)
    # Vertex names operations under the resource (…/models/M/operations/N), Cloud Run under
    # the location. aiplatform_v1 polls at /ui/{name}: its first matching http rule is /ui/.
    location = rf"projects/{SEG}/locations/{SEG}"

    def get_operation(req: Request) -> tuple[int, dict[str, Any]]:
        return 200, app.operations.get(app.store, req.params["name"])

    router.add(
        "GET",
        rf"/(?:v1|ui)/(?P<name>{location}/models/{SEG}/operations/{SEG})",
        get_operation,
        "aiplatform.projects.locations.models.operations.get",
    )
    router.add(
        "GET",
        rf"/v2/(?P<name>{location}/operations/{SEG})",
        get_operation,
        "run.projects.locations.operations.get",
    )
    return router


def state(app: StandIn) -> dict[str, Any]:
    """A summary for tests: counters, active faults, and each service's and model's state."""
    with app.store.transaction() as store:
        app.operations.finish_due(store)
        services = {
            s["name"]: {
                "etag": s.get("etag"),
                "traffic": s.get("traffic"),
                # Resolved for tests' convenience: Google's LATEST statuses name no revision.
                "trafficStatuses": cloudrun.resolved_statuses(s),
                "latestReadyRevision": s.get("latestReadyRevision"),
                "reconciling": s.get("reconciling"),
                "revisions": [r["name"] for r in store.list(cloudrun.REVISION, s["name"] + "/")],
            }
            for s in store.list(cloudrun.SERVICE)
        }
        # Keyed by project id, as tests name models; the API itself answers with the number.
        number = f"projects/{project_number(app.project)}/"
        models: dict[str, dict[str, list[str]]] = {}
        for v in store.list(vertex.VERSION):
            name = v["name"].replace(number, f"projects/{app.project}/", 1)
            models.setdefault(name, {})[v["versionId"]] = v["versionAliases"]
        return {
            "counters": store.counters(),
            "faults": app.faults.active(),
            "faults_fired": app.faults.fired,
            "services": services,
            "models": models,
            "schema_violations": list(app.violations),
        }


def make_handler(
    app: StandIn, router: Router, schemas: Discovery | None = None
) -> type[BaseHTTPRequestHandler]:
    predictor = predict.Predictor(app)

    def violated(request: Request, what: str, problems: list[str]) -> None:
        line = f"{request.line} ({request.api_method}) {what}: " + "; ".join(problems[:5])
        log.error("schema check: %s", line)
        app.violations.append(line)

    def check_request(request: Request) -> None:
        if schemas is None or not request.api_method:
            return
        problems = schemas.check_request(
            request.api_method, request.query, request.body, request.wants_int_enums
        )
        if problems:
            violated(request, "request", problems)
            # What Google answers for a body its schema does not allow.
            raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received. " + problems[0])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, the body waited for the
        # client's delayed ACK (~40 ms a call), a latency no Google front end adds.
        disable_nagle_algorithm = True
        server_version = "interlock-standin"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _serve(self, method: str) -> None:
            self._out_headers: dict[str, str] = {}
            try:
                status, body = self._handle(method)
            except ApiError as e:
                if e.raw is not None:
                    self._reply_raw(e.http, e.raw)
                    return
                status, body = e.http, e.body()
            except Exception as e:
                log.error("unhandled: %s", traceback.format_exc())
                err = ApiError("INTERNAL", f"stand-in failure: {type(e).__name__}: {e}")
                status, body = err.http, err.body()
            self._reply(status, body)

        def _handle(self, method: str) -> tuple[int, dict[str, Any]]:
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            raw = self._read_body()
            if path.startswith("/_"):
                return self._control(method, path, raw, query)
            if app.requests.recording and not path.startswith(cloudrun.RUN_PREFIX):
                app.requests.record(method, path, parse_qsl(url.query, keep_blank_values=True), raw)
            # Reply faults see the query too ("…?updateMask=traffic"): a test can tell writes apart.
            line = f"{method} {path}" + (f"?{unquote(url.query)}" if url.query else "")
            fault = app.faults.for_reply(line)
            if fault is not None:
                time.sleep(fault.latency_s)
                if fault.status is not None:
                    raise reply_error(fault)
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError as e:
                raise invalid(f"Invalid JSON payload received. {e}") from e
            if not isinstance(body, dict):
                raise invalid("Invalid JSON payload received: expected an object.")
            if path.startswith(cloudrun.RUN_PREFIX):
                route_key = self.headers.get(predict.ROUTE_KEY_HEADER)
                status, reply, self._out_headers = predictor.serve(method, path, body, route_key)
                return status, reply
            run_api = path.startswith("/v2/")
            request = Request(method, path, query, enums_to_names(body) if run_api else body)
            for key, value in parse_qsl(url.query, keep_blank_values=True):
                request.query_all.setdefault(key, []).append(value)
            with app.store.transaction() as store:
                app.operations.finish_due(store)
                status, reply = router.dispatch(request, before=check_request)
            if schemas is not None and request.api_method:
                problems = schemas.check_response(request.api_method, reply)
                if problems:
                    violated(request, "reply", problems)
                    raise ApiError(
                        "INTERNAL", "stand-in reply breaks Google's schema: " + problems[0]
                    )
            if run_api and request.wants_int_enums:
                reply = enums_to_numbers(reply)
            return status, reply

        def _reply_raw(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _control(
            self, method: str, path: str, raw: bytes, query: dict[str, str]
        ) -> tuple[int, dict[str, Any]]:
            if path == "/_health":
                return 200, {"ok": True}
            if path == "/_requests":
                if method == "POST":
                    return 200, app.requests.start()
                if method == "DELETE":
                    return 200, app.requests.stop()
                return 200, app.requests.since(int(query.get("since") or 0))
            if path == "/_state" and method == "GET":
                return 200, state(app)
            if path == "/_faults":
                if method == "POST":
                    body = json.loads(raw or b"{}")
                    if "stale_etag" in body:
                        app.faults.configure(body)
                    elif "revision" in body:
                        app.faults.set_serving(parse_serving_fault(body))
                    else:
                        app.faults.add(parse_fault(body))
                elif method == "DELETE":
                    app.faults.clear()
                return 200, {"faults": app.faults.active()}
            raise ApiError("NOT_FOUND", f"No control endpoint {method} {path}.")

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise invalid("Request body too large.")
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in self._out_headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def make_server(
    host: str,
    port: int,
    db_path: str,
    project: str,
    location: str,
    operation_delay_s: float,
    schema_check: bool = False,
) -> ThreadingHTTPServer:
    app = StandIn(Store(db_path), Faults(), Operations(operation_delay_s), project, location)
    schemas = Discovery() if schema_check else None
    server = ThreadingHTTPServer((host, port), make_handler(app, build_router(app), schemas))
    server.daemon_threads = True
    # The bound port (port 0 picks one) makes the Cloud Run service uris real addresses.
    bound_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    app.base_url = f"http://{bound_host}:{server.server_address[1]}"
    return server
