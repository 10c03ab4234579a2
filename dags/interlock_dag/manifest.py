"""DAG helpers: a batch window's manifest — the run's contract — checked, and its objects pinned.

interlock (functions/interlock/core/batch.py) triggers a batched pipeline's run with conf
`{"manifest_uri", "manifest_sha256", "count", "close_reason", "window_start", "window_end",
"partition", "model"}`. The manifest lists every object generation of the window; nothing in it
is trusted: its sha256 must be the conf's, its count the conf's, every entry a pinned object.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from interlock_dag.inputs import MODEL_NAME, PINNED_URI, BadConf, BadInput, Pinned

MANIFEST_URI = re.compile(
    r"gs://(?P<bucket>[a-z0-9][a-z0-9._\-]{1,220})/(?P<name>_interlock/manifests/[^#]+\.json)"
)
SHA256 = re.compile(r"[0-9a-f]{64}")


def is_batch(conf: Mapping[str, Any] | None) -> bool:
    return isinstance(conf, Mapping) and "manifest_uri" in conf


def parse_batch_conf(conf: Mapping[str, Any]) -> tuple[str, str, str, str, int]:
    """(model, bucket, manifest name, sha256, count) from a batched run's conf."""
    uri = conf.get("manifest_uri")
    match = MANIFEST_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise BadConf(
            f"conf.manifest_uri must be 'gs://BUCKET/_interlock/manifests/….json', got {uri!r}"
        )
    if ".." in match["name"].split("/"):
        raise BadConf(f"conf.manifest_uri {uri!r} must not contain '..' segments")
    digest = conf.get("manifest_sha256")
    if not isinstance(digest, str) or not SHA256.fullmatch(digest):
        raise BadConf(f"conf.manifest_sha256 must be 64 lowercase hex digits, got {digest!r}")
    count = conf.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BadConf(f"conf.count must be a positive whole number, got {count!r}")
    model = conf.get("model")
    if not isinstance(model, str) or not MODEL_NAME.fullmatch(model):
        raise BadConf(f"conf.model must match {MODEL_NAME.pattern}, got {model!r}")
    return model, match["bucket"], match["name"], digest, count


def parse_manifest(data: bytes, digest: str, count: int, uri: str) -> list[Pinned]:
    """Every object of the manifest, pinned, after checking it is the manifest the conf names."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise BadInput(f"{uri}: sha256 is {actual}, the conf said {digest}")
    try:
        body = json.loads(data)
        entries = body["objects"]
    except (ValueError, KeyError, TypeError) as e:
        raise BadInput(f"{uri}: not an interlock manifest ({e})") from e
    if not isinstance(entries, list) or len(entries) != count or body.get("count") != count:
        raise BadInput(
            f"{uri}: lists {len(entries) if isinstance(entries, list) else '?'} objects, the conf said {count}"
        )
    pinned = []
    for i, e in enumerate(entries):
        uri_i = e.get("uri") if isinstance(e, dict) else None
        match = PINNED_URI.fullmatch(uri_i) if isinstance(uri_i, str) else None
        if match is None or ".." in match["name"].split("/"):
            raise BadInput(f"{uri}: objects[{i}].uri is not a pinned object, got {uri_i!r}")
        size, md5 = e.get("size"), e.get("md5")
        if md5 is None or not isinstance(size, int):
            raise BadInput(f"{uri}: objects[{i}] ({uri_i}) lacks its md5 or size: cannot verify it")
        pinned.append(Pinned(uri_i, match["bucket"], match["name"], int(match["gen"]), md5, size))
    return pinned


def combined_csv(texts: list[tuple[str, str]]) -> str:
    """One CSV of every file's rows (header once); each file must have the first one's header."""
    header: str | None = None
    lines: list[str] = []
    for uri, text in texts:
        first, _, rest = text.partition("\n")
        if header is None:
            header = first.strip()
        elif first.strip() != header:
            raise BadInput(
                f"{uri}: header {first.strip()[:80]!r} differs from the first file's {header[:80]!r}"
            )
        lines.append(rest if rest.endswith("\n") or not rest else rest + "\n")
    return (header or "") + "\n" + "".join(lines)
