"""Adapters layer: the local stack's bucket on disk as an `ObjectStore` (the DAG reads it too).

Layout: `{root}/{bucket}/{name}` the live object, `{root}/.objects/{bucket}/{generation}/{name}`
the immutable copy a run is pinned to, `{root}/.meta/{bucket}/{name}.json` the live object's
metadata (generation, size, md5, time created) — what the JSON API would list. A create-only
write links the metadata file into place, which fails when it exists: `if_generation_match=0`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from interlock.core.batch import Member
from interlock.core.codec import format_time, parse_time
from interlock.core.inbound import check_object_name

META = ".meta"
OBJECTS = ".objects"


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class LocalObjectStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _meta(self, bucket: str, name: str) -> Path:
        return self.root / META / bucket / f"{name}.json"

    def put(self, bucket: str, name: str, data: bytes, only_new: bool = False) -> Member | None:
        """Write a new generation of `name` (None when `only_new` and it exists)."""
        check_object_name(name, "name")
        generation = time.time_ns() // 1000  # GCS generations are microsecond timestamps
        pinned = self.root / OBJECTS / bucket / str(generation) / name
        pinned.parent.mkdir(parents=True, exist_ok=True)
        pinned.write_bytes(data)
        created = datetime.fromtimestamp(generation / 1e6, UTC)
        obj = Member(bucket, name, generation, len(data), md5_base64(data), created, "listing")
        meta = self._meta(bucket, name)
        meta.parent.mkdir(parents=True, exist_ok=True)
        record = {"generation": generation, "size": obj.size, "md5": obj.md5,
                  "time_created": format_time(created)}  # fmt: skip
        tmp = meta.with_name(f".{meta.name}.{generation}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        try:
            if only_new:
                os.link(tmp, meta)  # atomic, and refuses an existing name
            else:
                os.replace(tmp, meta)
        except FileExistsError:
            return None
        finally:
            tmp.unlink(missing_ok=True)
        live = self.root / bucket / name
        live.parent.mkdir(parents=True, exist_ok=True)
        live.write_bytes(data)
        return obj

    def list(self, bucket: str, prefix: str) -> list[Member]:
        base = self.root / META / bucket
        found = []
        for path in sorted(base.rglob("*.json")) if base.is_dir() else ():
            name = path.relative_to(base).as_posix().removesuffix(".json")
            if not name.startswith(prefix) or path.name.startswith("."):
                continue
            r = json.loads(path.read_text())
            created = parse_time(r["time_created"], "time_created")
            found.append(Member(bucket, name, int(r["generation"]), r["size"], r["md5"], created, "listing"))  # fmt: skip
        return found

    def create(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        return self.put(bucket, name, data, only_new=True) is not None

    def read(self, bucket: str, name: str) -> bytes | None:
        meta = self._meta(bucket, name)
        if not meta.exists():
            return None
        generation = json.loads(meta.read_text())["generation"]
        return (self.root / OBJECTS / bucket / str(generation) / name).read_bytes()
