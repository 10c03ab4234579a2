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

    def test_generation_reports_size_md5_and_time_of_that_exact_generation(
        self, store: ObjectStore
    ) -> None:
        assert store.create(BUCKET, "in/a.csv", b"abc", "text/csv")
        [live] = store.list(BUCKET, "in/a.csv")
        found = store.generation(BUCKET, "in/a.csv", live.generation)
        assert found is not None
        assert (found.size, found.md5) == (3, "kAFQmDzST7DWlj99KOF/cg==")
        assert found.time_created is not None

    def test_generation_is_none_when_that_generation_or_the_object_never_existed(
        self, store: ObjectStore
    ) -> None:
        assert store.generation(BUCKET, "in/missing.csv", 1) is None
        assert store.create(BUCKET, "in/a.csv", b"abc", "text/csv")
        [live] = store.list(BUCKET, "in/a.csv")
        assert store.generation(BUCKET, "in/a.csv", live.generation + 1) is None


def overwrite(store: LocalObjectStore, name: str) -> tuple[int, int]:
    first = store.put(BUCKET, name, b"day one")
    second = store.put(BUCKET, name, b"day two!")
    assert first is not None and second is not None and first.generation != second.generation
    return first.generation, second.generation


class TestLocalBucketVersioning:
    """The local bucket, like GCS, keeps only the live generation unless versioning is on."""

    def test_an_overwrite_removes_the_noncurrent_generation_when_versioning_is_off(
        self, tmp_path: Path
    ) -> None:
        store = LocalObjectStore(tmp_path)
        assert not store.versioning(BUCKET)
        old, new = overwrite(store, "in/a.csv")
        assert store.generation(BUCKET, "in/a.csv", old) is None
        assert store.read_generation(BUCKET, "in/a.csv", old) is None
        current = store.generation(BUCKET, "in/a.csv", new)
        assert current is not None and current.size == len(b"day two!")
        assert store.read(BUCKET, "in/a.csv") == b"day two!"
        # Nothing of the old generation stays on disk, not even its folders.
        assert not (tmp_path / ".objects" / BUCKET / str(old)).exists()

    def test_an_overwrite_keeps_every_generation_when_versioning_is_on(
        self, tmp_path: Path
    ) -> None:
        store = LocalObjectStore(tmp_path)
        store.set_versioning(BUCKET, True)
        old, new = overwrite(store, "in/a.csv")
        assert store.read_generation(BUCKET, "in/a.csv", old) == b"day one"
        assert store.read_generation(BUCKET, "in/a.csv", new) == b"day two!"
        assert not LocalObjectStore(tmp_path).versioning("other-bucket")

    def test_a_delete_removes_the_live_generation_unless_versioning_keeps_it(
        self, tmp_path: Path
    ) -> None:
        store = LocalObjectStore(tmp_path)
        gone = store.put(BUCKET, "in/a.csv", b"abc")
        assert gone is not None and store.delete(BUCKET, "in/a.csv")
        assert store.read(BUCKET, "in/a.csv") is None and store.list(BUCKET, "in/") == []
        assert store.generation(BUCKET, "in/a.csv", gone.generation) is None
        assert not store.delete(BUCKET, "in/a.csv")
        store.set_versioning(BUCKET, True)
        kept = store.put(BUCKET, "in/b.csv", b"abc")
        assert kept is not None and store.delete(BUCKET, "in/b.csv")
        assert store.generation(BUCKET, "in/b.csv", kept.generation) is not None

    def test_a_refused_create_leaves_no_copy_behind(self, tmp_path: Path) -> None:
        store = LocalObjectStore(tmp_path)
        assert store.create(BUCKET, "_interlock/m.json", b"one", "application/json")
        assert not store.create(BUCKET, "_interlock/m.json", b"two", "application/json")
        assert len(list((tmp_path / ".objects" / BUCKET).iterdir())) == 1
