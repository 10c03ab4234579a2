"""Contract: every `ObjectStore` (memory fake, the local bucket, the official GCS client) behaves the same."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from interlock.adapters.storage_gcs import GcsObjectStore
from interlock.adapters.storage_local import LocalObjectStore
from interlock.ports import ObjectStore
from interlock_dev.gcs_api import GcsApi
from interlock_dev.processes import free_port
from tests.fakes.storage import FakeObjectStore

BUCKET = "interlock-landing"
GCS_API_PORT_BASE = 47470


@pytest.fixture(params=["memory", "local", "gcs"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ObjectStore]:
    """The fake, the local bucket, and the official client (`GcsObjectStore`) on the JSON API
    subset the local stack serves over that bucket (`interlock_dev.gcs_api`)."""
    if request.param == "memory":
        yield FakeObjectStore()
    elif request.param == "local":
        yield LocalObjectStore(tmp_path)
    else:
        api = GcsApi(tmp_path, free_port(GCS_API_PORT_BASE))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", api.host)
        try:
            yield GcsObjectStore("local-project")
        finally:
            api.close()


class TestObjectStoreContract:
    def test_create_writes_once_and_refuses_when_the_name_exists(self, store: ObjectStore) -> None:
        assert store.create(BUCKET, "_interlock/m/w1.json", b"one", "application/json")
        assert not store.create(BUCKET, "_interlock/m/w1.json", b"two", "application/json")
        assert store.read(BUCKET, "_interlock/m/w1.json") == b"one"

    def test_read_is_none_when_there_is_no_such_object(self, store: ObjectStore) -> None:
        assert store.read(BUCKET, "missing.csv") is None

    def test_list_shows_generation_size_and_md5_of_each_object_under_the_prefix(
        self, store: ObjectStore
    ) -> None:
        store.create(BUCKET, "in/a.csv", b"abc", "text/csv")
        store.create(BUCKET, "in/sub/b.csv", b"defg", "text/csv")
        store.create(BUCKET, "other/c.csv", b"x", "text/csv")
        listed = store.list(BUCKET, "in/")
        assert [(o.name, o.size, o.md5) for o in listed] == [
            ("in/a.csv", 3, "kAFQmDzST7DWlj99KOF/cg=="),
            ("in/sub/b.csv", 4, "Al5Np+2sNe3lg/Xo1Rqn7A=="),
        ]
        assert all(o.generation > 0 and o.time_created is not None for o in listed)
        assert {o.found_by for o in listed} == {"listing"}

    def test_exactly_one_create_wins_when_writers_race_on_one_name(
        self, store: ObjectStore
    ) -> None:
        def attempt(n: int) -> bool:
            return store.create(BUCKET, "_interlock/race.json", str(n).encode(), "text/plain")

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(attempt, range(16))) == 1
        assert len(store.list(BUCKET, "_interlock/")) == 1
