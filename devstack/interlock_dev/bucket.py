"""Local stack: a Cloud Storage bucket on disk, with generations, and the notification it sends.

Layout (the DAG reads the same): `{root}/{bucket}/{name}` is the live object and
`{root}/.objects/{bucket}/{generation}/{name}` the copy of the generation a DAG run is pinned to.
As on GCS without Object Versioning (the default), landing a name again removes the previous
generation's copy, so a run still pinned to it fails in validate_input; a bucket keeps every
generation once `LocalObjectStore(root).set_versioning(bucket, True)` (see storage_local.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interlock.adapters.storage_local import LocalObjectStore
from interlock.core.codec import format_time


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    name: str
    generation: int
    size: int
    md5_base64: str
    created: datetime

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}#{self.generation}"

    def resource(self) -> dict[str, Any]:
        """The JSON API v1 object resource, as GCS puts it in a notification (strings for ints)."""
        return {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": "1",
            "contentType": "text/csv" if self.name.endswith(".csv") else "application/octet-stream",
            "timeCreated": format_time(self.created),
            "updated": format_time(self.created),
            "size": str(self.size),
            "md5Hash": self.md5_base64,
        }

    def notification(self) -> tuple[bytes, dict[str, str]]:
        """A GCS→Pub/Sub notification (payloadFormat JSON_API_V1): data and attributes."""
        attributes = {
            "eventType": "OBJECT_FINALIZE",
            "payloadFormat": "JSON_API_V1",
            "bucketId": self.bucket,
            "objectId": self.name,
            "objectGeneration": str(self.generation),
            "eventTime": format_time(self.created),
            "notificationConfig": f"projects/_/buckets/{self.bucket}/notificationConfigs/1",
        }
        return json.dumps(self.resource()).encode(), attributes


class LocalBucket:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, bucket: str, name: str, source: Path) -> StoredObject:
        """A new generation, with the metadata the functions' `LocalObjectStore` lists."""
        obj = LocalObjectStore(self.root).put(bucket, name, source.read_bytes())
        assert obj is not None and obj.md5 is not None and obj.size is not None
        created = obj.time_created or datetime.now(UTC)
        return StoredObject(bucket, name, obj.generation, obj.size, obj.md5, created)


def encode_data(data: bytes) -> str:
    return base64.b64encode(data).decode()
