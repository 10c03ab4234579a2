"""Local stack: the subset of the Cloud Storage JSON API that batch windows use, over the local
bucket (`LocalObjectStore`), so the official `google-cloud-storage` client can be pointed at it
with STORAGE_EMULATOR_HOST: list objects, multipart upload with `ifGenerationMatch=0` (412 when
the name exists), object metadata and media download, of the live object or of one `generation`
(404 when absent: without Object Versioning an overwritten generation is gone). Field names and
codes as Google's."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from interlock.adapters.storage_local import LocalObjectStore
from interlock.core.batch import Member
from interlock.core.codec import format_time

_LIST = re.compile(r"^/storage/v1/b/([^/]+)/o$")
_UPLOAD = re.compile(r"^/upload/storage/v1/b/([^/]+)/o$")
_MEDIA = re.compile(r"^/(?:download/)?storage/v1/b/([^/]+)/o/(.+)$")


def resource(m: Member) -> dict[str, Any]:
    created = format_time(m.time_created) if m.time_created else None
    return {
        "kind": "storage#object", "id": f"{m.bucket}/{m.name}/{m.generation}", "name": m.name,
        "bucket": m.bucket, "generation": str(m.generation), "metageneration": "1",
        "size": str(m.size), "md5Hash": m.md5, "timeCreated": created, "updated": created,
    }  # fmt: skip


class GcsApi:
    def __init__(self, root: Path, port: int) -> None:
        store = LocalObjectStore(root)

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code: int, body: Any = None, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body or {}).encode()
                self.send_response(code)
                self.send_header(
                    "Content-Type",
                    "application/octet-stream" if raw is not None else "application/json",
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, status: str, message: str) -> None:
                self._reply(code, {"error": {"code": code, "message": message, "status": status,
                                             "errors": [{"message": message, "reason": status.lower()}]}})  # fmt: skip

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if (m := _LIST.match(url.path)) is not None:
                    prefix = query.get("prefix", [""])[0]
                    items = [resource(o) for o in store.list(m.group(1), prefix)]
                    return self._reply(200, {"kind": "storage#objects", "items": items})
                if (m := _MEDIA.match(url.path)) is not None:
                    bucket, name = m.group(1), urllib.parse.unquote(m.group(2))
                    if "generation" in query:
                        return self._generation(bucket, name, query)
                    data = store.read(bucket, name)
                    if data is None:
                        return self._error(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
                    if query.get("alt") == ["media"]:
                        return self._reply(200, raw=data)
                    found = [o for o in store.list(bucket, name) if o.name == name]
                    return self._reply(200, resource(found[0]))
                self._error(404, "NOT_FOUND", f"not served here: {url.path}")

            def _generation(self, bucket: str, name: str, query: dict[str, list[str]]) -> None:
                raw = query["generation"][0]
                gen = int(raw) if raw.isdigit() else -1
                found = store.generation(bucket, name, gen) if gen >= 0 else None
                if found is None:
                    return self._error(404, "NOT_FOUND", f"No such object: {bucket}/{name}#{raw}")
                if query.get("alt") == ["media"]:
                    return self._reply(200, raw=store.read_generation(bucket, name, gen) or b"")
                member = Member(bucket, name, gen, found.size, found.md5, found.time_created,
                                "listing")  # fmt: skip
                return self._reply(200, resource(member))

            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                m = _UPLOAD.match(url.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if m is None or query.get("uploadType") != ["multipart"]:
                    return self._error(400, "INVALID_ARGUMENT", "only multipart uploads are served")
                head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                parts = list(BytesParser(policy=HTTP).parsebytes(head + body).iter_parts())
                meta = json.loads(parts[0].get_content())
                payload = parts[1].get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                name = query.get("name", [meta.get("name")])[0]
                if query.get("ifGenerationMatch") == ["0"]:
                    if not store.create(m.group(1), name, data, meta.get("contentType", "")):
                        return self._error(
                            412,
                            "FAILED_PRECONDITION",
                            "At least one of the pre-conditions you specified did not hold.",
                        )
                else:
                    store.put(m.group(1), name, data)
                found = [o for o in store.list(m.group(1), name) if o.name == name]
                self._reply(200, resource(found[0]))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.host = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
