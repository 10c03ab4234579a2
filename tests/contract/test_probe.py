"""Contract: `FakeProbe` and `HttpProbe` (on the stand-in's prediction server) behave the same.

Whatever status a revision answers is an answer (the smoke check judges it); no answer within
the timeout is `status` None; a URL nobody listens on is a TransientError (retried, parked).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Protocol

import pytest

from interlock.adapters.probe import BODY_BYTES, HttpProbe
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import Probe
from tests.contract.test_predictions import write_model
from tests.fakes.probe import FakeProbe
from tests.fixtures.standin import StandInServer, unique_id

IMAGE = "us-docker.pkg.dev/cloudrun/container/hello:latest"
SAMPLE = {"instances": [[1.0, 2.0]]}


class ProbeHarness(Protocol):
    probe: Probe

    def revision_url(self, broken: bool = False, slow_s: float = 0.0) -> str:
        """The URL of a revision's predict route: serving, unable to load its model, or slow."""
        ...

    def closed_url(self) -> str: ...


class FakeHarness:
    def __init__(self) -> None:
        self.fake = FakeProbe()
        self.probe: Probe = self.fake

    def revision_url(self, broken: bool = False, slow_s: float = 0.0) -> str:
        url = f"https://smoke---{unique_id('p')}-x7kq2mda4a-uc.a.run.app/predict"
        if broken:
            self.fake.answer(url, 503, '{"error": {"message": "cannot load its model"}}')
        if slow_s:
            self.fake.answer(url, None, "no answer")
        return url

    def closed_url(self) -> str:
        url = "https://nobody---x-x7kq2mda4a-uc.a.run.app/predict"
        self.fake.unreachable.add(url)
        return url


class HttpHarness:
    def __init__(self, standin: StandInServer, tmp_path: Path) -> None:
        self.standin, self.tmp_path = standin, tmp_path
        self.probe: Probe = HttpProbe()

    def revision_url(self, broken: bool = False, slow_s: float = 0.0) -> str:
        service_id = unique_id("probe")
        artifact = self.tmp_path / service_id
        if broken:
            artifact.mkdir()
            (artifact / "model.json").write_text('{"format": "pickle"}')
            uri = artifact.as_uri()
        else:
            uri = write_model(artifact, [1.0, -1.0], 0.0)
        revision = f"{service_id}-v1"
        self.standin.create_service(service_id, revision, IMAGE, {"AIP_STORAGE_URI": uri})
        if slow_s:
            self.standin.set_fault(revision=revision, latency_s=slow_s)
        return f"{self.standin.endpoint}/run/{service_id}/predict"

    def closed_url(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return f"http://127.0.0.1:{port}/run/x/predict"


@pytest.fixture(params=["fake", "http"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> ProbeHarness:
    if request.param == "fake":
        return FakeHarness()
    return HttpHarness(request.getfixturevalue("standin"), tmp_path)


class TestProbe:
    def test_answers_200_with_the_predictions_when_the_revision_serves(
        self, harness: ProbeHarness
    ) -> None:
        answer = harness.probe.post(harness.revision_url(), SAMPLE, None, 5)
        assert answer.status == 200 and '"predictions"' in answer.body

    def test_answers_the_5xx_and_its_body_when_the_revision_cannot_load_its_model(
        self, harness: ProbeHarness
    ) -> None:
        answer = harness.probe.post(harness.revision_url(broken=True), SAMPLE, None, 5)
        assert answer.status == 503 and "cannot load its model" in answer.body
        assert len(answer.body) <= BODY_BYTES

    def test_answers_no_status_when_the_revision_is_slower_than_the_timeout(
        self, harness: ProbeHarness
    ) -> None:
        answer = harness.probe.post(harness.revision_url(slow_s=2.0), SAMPLE, None, 0.5)
        assert answer.status is None

    def test_is_transient_error_when_nothing_listens_at_the_url(
        self, harness: ProbeHarness
    ) -> None:
        with pytest.raises(TransientError):
            harness.probe.post(harness.closed_url(), SAMPLE, None, 2)


def test_http_probe_is_permanent_error_when_the_url_is_not_http() -> None:
    with pytest.raises(PermanentError) as info:
        HttpProbe().post("file:///etc/passwd", SAMPLE, None, 1)
    assert info.value.field == "url"
