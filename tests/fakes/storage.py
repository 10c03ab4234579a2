"""Fakes: an in-memory `ObjectStore`, held to the same contract as the local bucket and GCS."""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from interlock.core.batch import Member
from interlock.ports import StoredGeneration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeObjectStore:
    def __init__(self, clock: Callable[[], datetime] = lambda: T0) -> None:
        self.clock = clock  # time created of what is written
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], tuple[Member, bytes]] = {}
        self._generations = itertools.count(1_700_000_000_000_000)
        self.lists = 0

    def put(self, bucket: str, name: str, data: bytes) -> Member:
        with self._lock:
            return self._put(bucket, name, data)

    def _put(self, bucket: str, name: str, data: bytes) -> Member:
        generation = next(self._generations)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        created = self.clock()
        obj = Member(bucket, name, generation, len(data), md5, created, "listing")
        self._objects[(bucket, name)] = (obj, data)
        return obj

    def list(self, bucket: str, prefix: str) -> list[Member]:
        with self._lock:
            self.lists += 1
            return sorted(
                (
                    o
                    for (b, n), (o, _) in self._objects.items()
                    if b == bucket and n.startswith(prefix)
                ),
                key=lambda o: o.name,
            )

    def create(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        with self._lock:
            if (bucket, name) in self._objects:
                return False
            self._put(bucket, name, data)
            return True

    def read(self, bucket: str, name: str) -> bytes | None:
        with self._lock:
            found = self._objects.get((bucket, name))
        return None if found is None else found[1]

    def generation(self, bucket: str, name: str, generation: int) -> StoredGeneration | None:
        # Without Object Versioning (GCS's default) only the live generation exists.
        with self._lock:
            found = self._objects.get((bucket, name))
        if found is None or found[0].generation != generation:
            return None
        obj, data = found
        return StoredGeneration(len(data), obj.md5, obj.time_created)
