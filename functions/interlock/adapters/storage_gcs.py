"""Adapters layer: Cloud Storage as an `ObjectStore`, on the official `google-cloud-storage` client.

Imported only on the path that closes batch windows (the client is loaded on first use).
Listing is strongly consistent (cloud.google.com/storage/docs/consistency), so a listing at a
window's close is authoritative; the manifest is written with `if_generation_match=0`, which
Cloud Storage answers 412 when the name exists: a retry then reads what is there. Honours
STORAGE_EMULATOR_HOST (the client then skips credentials).
"""

from __future__ import annotations

import threading
from typing import Any

from interlock.adapters.google_errors import translate
from interlock.core.batch import Member
from interlock.ports import StoredGeneration

TIMEOUT_S = 30.0


class GcsObjectStore:
    def __init__(self, project: str) -> None:
        self.project = project
        self._client: Any = None
        self._lock = threading.Lock()

    def _gcs(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import storage  # type: ignore[attr-defined]

                self._client = storage.Client(project=self.project)
            return self._client

    def list(self, bucket: str, prefix: str) -> list[Member]:
        try:
            blobs = list(self._gcs().list_blobs(bucket, prefix=prefix, timeout=TIMEOUT_S))
        except Exception as exc:
            raise translate(exc, "storage", f"list gs://{bucket}/{prefix}") from exc
        return [
            Member(bucket, b.name, int(b.generation), b.size, b.md5_hash, b.time_created, "listing")
            for b in blobs
        ]

    def create(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        from google.api_core import exceptions as gex

        blob = self._gcs().bucket(bucket).blob(name)
        try:
            blob.upload_from_string(
                data, content_type=content_type, if_generation_match=0, timeout=TIMEOUT_S
            )
        except gex.PreconditionFailed:
            return False
        except Exception as exc:
            raise translate(exc, "storage", f"write gs://{bucket}/{name}") from exc
        return True

    def read(self, bucket: str, name: str) -> bytes | None:
        from google.api_core import exceptions as gex

        try:
            return bytes(self._gcs().bucket(bucket).blob(name).download_as_bytes(timeout=TIMEOUT_S))
        except gex.NotFound:
            return None
        except Exception as exc:
            raise translate(exc, "storage", f"read gs://{bucket}/{name}") from exc

    def generation(self, bucket: str, name: str, generation: int) -> StoredGeneration | None:
        # get_blob answers None on 404: that generation is gone (or never was).
        try:
            blob = (
                self._gcs().bucket(bucket).get_blob(name, generation=generation, timeout=TIMEOUT_S)
            )
        except Exception as exc:
            raise translate(exc, "storage", f"get gs://{bucket}/{name}#{generation}") from exc
        if blob is None:
            return None
        return StoredGeneration(int(blob.size), blob.md5_hash, blob.time_created)
