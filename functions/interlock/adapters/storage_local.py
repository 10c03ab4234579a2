"""Adapters layer: the local stack's bucket on disk as an `ObjectStore` (the DAG reads it too).

Layout: `{root}/{bucket}/{name}` the live object, `{root}/.objects/{bucket}/{generation}/{name}`
the copy of each generation a run is pinned to, `{root}/.meta/{bucket}/{name}.json` the live
object's metadata (generation, size, md5, time created) — what the JSON API would list. A
create-only write links the metadata file into place, which fails when it exists:
`if_generation_match=0`.

Object Versioning, per bucket, as on GCS: OFF unless `{root}/.buckets/{bucket}.json` says
`{"versioning": {"enabled": true}}` (the bucket resource's own field; `set_versioning` writes it).
Off, an overwrite removes the noncurrent generation's copy and a delete the live one's, as GCS
does — so a run pinned to a generation that was overwritten finds it gone, as it would on Google
Cloud. On, every generation is kept.
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
from interlock.ports import StoredGeneration

META = ".meta"
OBJECTS = ".objects"
BUCKETS = ".buckets"


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class LocalObjectStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _meta(self, bucket: str, name: str) -> Path:
        return self.root / META / bucket / f"{name}.json"

    def _copy(self, bucket: str, name: str, generation: int) -> Path:
        return self.root / OBJECTS / bucket / str(generation) / name

    def versioning(self, bucket: str) -> bool:
        """Whether the bucket keeps noncurrent generations (GCS's default: no)."""
        try:
            resource = json.loads((self.root / BUCKETS / f"{bucket}.json").read_text())
        except FileNotFoundError:
            return False
        return bool((resource.get("versioning") or {}).get("enabled"))

    def set_versioning(self, bucket: str, enabled: bool) -> None:
        path = self.root / BUCKETS / f"{bucket}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"versioning": {"enabled": enabled}}))

    def put(self, bucket: str, name: str, data: bytes, only_new: bool = False) -> Member | None:
        """Write a new generation of `name` (None when `only_new` and it exists)."""
        check_object_name(name, "name")
        generation = time.time_ns() // 1000  # GCS generations are microsecond timestamps
        pinned = self._copy(bucket, name, generation)
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
        previous = self._live_generation(bucket, name)
        try:
            if only_new:
                os.link(tmp, meta)  # atomic, and refuses an existing name
            else:
                os.replace(tmp, meta)
        except FileExistsError:
            self._remove_copy(bucket, name, generation)
            return None
        finally:
            tmp.unlink(missing_ok=True)
        live = self.root / bucket / name
        live.parent.mkdir(parents=True, exist_ok=True)
        live.write_bytes(data)
        if previous is not None and previous != generation and not self.versioning(bucket):
            # Two writers overwriting one name in the same instant may both remove the same
            # predecessor and leave one copy behind: harmless, as if versioning had kept it.
            self._remove_copy(bucket, name, previous)
        return obj

    def delete(self, bucket: str, name: str) -> bool:
        """Delete the live object (False if there is none); its generation's copy goes too
        unless the bucket keeps versions."""
        generation = self._live_generation(bucket, name)
        if generation is None:
            return False
        self._meta(bucket, name).unlink(missing_ok=True)
        (self.root / bucket / name).unlink(missing_ok=True)
        if not self.versioning(bucket):
            self._remove_copy(bucket, name, generation)
        return True

    def _live_generation(self, bucket: str, name: str) -> int | None:
        try:
            return int(json.loads(self._meta(bucket, name).read_text())["generation"])
        except FileNotFoundError:
            return None

    def _remove_copy(self, bucket: str, name: str, generation: int) -> None:
        path = self._copy(bucket, name, generation)
        path.unlink(missing_ok=True)
        # Empty folders of that generation go too, so `.objects` lists only what is kept.
        top = self.root / OBJECTS / bucket
        for parent in path.parents:
            if parent == top or not parent.is_relative_to(top):
                break
            try:
                parent.rmdir()
            except OSError:
                break

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
        generation = self._live_generation(bucket, name)
        if generation is None:
            return None
        return self._copy(bucket, name, generation).read_bytes()

    def read_generation(self, bucket: str, name: str, generation: int) -> bytes | None:
        """That generation's bytes; None when it is no longer kept."""
        check_object_name(name, "name")
        try:
            return self._copy(bucket, name, generation).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def generation(self, bucket: str, name: str, generation: int) -> StoredGeneration | None:
        # Size and md5 from the bytes kept, not from a record: what a run would read now.
        data = self.read_generation(bucket, name, generation)
        if data is None:
            return None
        created = datetime.fromtimestamp(generation / 1e6, UTC)
        return StoredGeneration(len(data), md5_base64(data), created)
