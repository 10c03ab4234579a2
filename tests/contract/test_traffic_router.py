"""Contract: `FakeTrafficRouter` and `CloudRunTrafficRouter` (on the stand-in) behave the same."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import pytest

from interlock.adapters.cloudrun import CloudRunTrafficRouter
from interlock.core.effects import TrafficSplit
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import RevisionSpec, TrafficRouter
from tests.fakes.traffic import FakeTrafficRouter
from tests.fixtures.standin import StandInServer, unique_id

PARENT = "projects/interlock-test/locations/us-central1"
# Google's public sample image: real, so `make conformance` deploys these specs on Cloud Run.
IMAGE = "us-docker.pkg.dev/cloudrun/container/hello:latest"


class RouterHarness(Protocol):
    router: TrafficRouter

    def seed(self, service_id: str, first: RevisionSpec) -> str: ...

    def make_unavailable(self, times: int) -> None: ...

    def fail_next_operation(self, message: str, revision_fails: bool = False) -> None: ...

    def refuse_next_write(self, status: str, message: str) -> None:
        """The next write is refused with google.rpc `status` and this wording."""
        ...

    def race_next_write(
        self, service: str, concurrent: Sequence[TrafficSplit], stale_etag: str = "ABORTED"
    ) -> None:
        """Let another writer set `concurrent` between our next write's read and its write;
        the loser's stale etag is answered with `stale_etag` (Cloud Run's reply is unverified)."""
        ...

    def delete_revision(self, service: str, revision: str) -> None: ...

    def revisions_created(self, service: str) -> int: ...


class FakeHarness:
    def __init__(self) -> None:
        self.fake = FakeTrafficRouter()
        self.router: TrafficRouter = self.fake

    def seed(self, service_id: str, first: RevisionSpec) -> str:
        name = f"{PARENT}/services/{service_id}"
        self.fake.seed_service(name, first)
        return name

    def make_unavailable(self, times: int) -> None:
        self.fake.fail_next(TransientError("UNAVAILABLE: injected"), times)

    def fail_next_operation(self, message: str, revision_fails: bool = False) -> None:
        self.fake.fail_next_operation(message, revision_fails)

    def refuse_next_write(self, status: str, message: str) -> None:
        self.fake.fail_next(PermanentError("revision", f"{status}: {message}"))

    def delete_revision(self, service: str, revision: str) -> None:
        self.fake.delete_revision(service, revision)

    def race_next_write(
        self, service: str, concurrent: Sequence[TrafficSplit], stale_etag: str = "ABORTED"
    ) -> None:
        other = FakeTrafficRouter()
        other.services = self.fake.services
        self.fake.race_next_write(lambda: other.set_traffic(service, concurrent) and None)

    def revisions_created(self, service: str) -> int:
        return self.fake.services[service].revisions_created + 1  # + the seeded one


class CloudRunHarness:
    def __init__(self, standin: StandInServer) -> None:
        self.standin = standin
        self.router: TrafficRouter = self._router()

    def _router(self) -> CloudRunTrafficRouter:
        return CloudRunTrafficRouter(
            self.standin.location, endpoint=self.standin.endpoint, timeout_s=10,
            operation_timeout_s=20, poll_initial_s=0.05, poll_max_s=0.3,
        )  # fmt: skip

    def seed(self, service_id: str, first: RevisionSpec) -> str:
        return self.standin.create_service(service_id, first.name, first.image, first.env)

    def make_unavailable(self, times: int) -> None:
        self.standin.set_fault(match="/v2/", status=503, count=times)

    def fail_next_operation(self, message: str, revision_fails: bool = False) -> None:
        self.standin.set_fault(
            match="PATCH /v2/", operation_error={"code": 9, "message": message}, count=1,
            revision_fails=revision_fails,
        )  # fmt: skip

    def refuse_next_write(self, status: str, message: str) -> None:
        self.standin.set_fault(
            match="PATCH /v2/", status=409, rpc_status=status, message=message, count=1
        )

    def delete_revision(self, service: str, revision: str) -> None:
        op = self.standin.ok("DELETE", f"/v2/{service}/revisions/{revision}")
        self.standin.wait_operation(op)

    def race_next_write(
        self, service: str, concurrent: Sequence[TrafficSplit], stale_etag: str = "ABORTED"
    ) -> None:
        self.standin.set_fault(stale_etag=stale_etag)
        # Hold our PATCH for a while after it has read the etag, and slip the other write in.
        self.standin.set_fault(match=f"PATCH /v2/{service}", latency_s=1.5, count=1)
        fired = self.standin.state()["faults_fired"]
        other = self._router()

        def other_writer() -> None:
            deadline = time.monotonic() + 10
            while self.standin.state()["faults_fired"] == fired:
                assert time.monotonic() < deadline, "our PATCH never arrived"
                time.sleep(0.02)
            other.set_traffic(service, concurrent)

        self.thread = threading.Thread(target=other_writer, daemon=True)
        self.thread.start()

    def revisions_created(self, service: str) -> int:
        return len(self.standin.state()["services"][service]["revisions"])


@pytest.fixture(params=["fake", "cloudrun"])
def harness(request: pytest.FixtureRequest) -> RouterHarness:
    if request.param == "fake":
        return FakeHarness()
    return CloudRunHarness(request.getfixturevalue("standin"))


def spec(service_id: str, version: str, image: str = IMAGE) -> RevisionSpec:
    return RevisionSpec(
        name=f"{service_id}-v{version}",
        image=image,
        env={"MODEL_VERSION": version, "MODEL_URI": f"gs://models/churn/{version}"},
        labels={"model-version": version},
    )


def seeded(harness: RouterHarness) -> tuple[str, str]:
    """A service serving revision v1 at 100 %; (service name, service id)."""
    service_id = unique_id("churn")
    return harness.seed(service_id, spec(service_id, "1")), service_id


def canary(service_id: str, percent: int) -> list[TrafficSplit]:
    return [
        TrafficSplit(f"{service_id}-v1", 100 - percent, "champion"),
        TrafficSplit(f"{service_id}-v2", percent, "candidate"),
    ]


class TestTrafficRouter:
    def test_seeded_service_serves_first_revision_when_new(self, harness: RouterHarness) -> None:
        service, service_id = seeded(harness)
        assert harness.router.get_traffic(service) == (TrafficSplit(f"{service_id}-v1", 100),)

    def test_ensure_revision_creates_without_traffic_when_new(self, harness: RouterHarness) -> None:
        service, service_id = seeded(harness)
        before = harness.router.get_traffic(service)
        assert harness.router.ensure_revision(service, spec(service_id, "2")) == f"{service_id}-v2"
        assert harness.router.get_traffic(service) == before
        assert harness.revisions_created(service) == 2

    def test_ensure_revision_is_idempotent_when_repeated(self, harness: RouterHarness) -> None:
        service, service_id = seeded(harness)
        for _ in range(3):
            harness.router.ensure_revision(service, spec(service_id, "2"))
        assert harness.revisions_created(service) == 2

    def test_ensure_revision_is_permanent_error_when_name_reused_with_other_image(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        with pytest.raises(PermanentError) as info:
            harness.router.ensure_revision(service, spec(service_id, "2", image=IMAGE + "-other"))
        assert info.value.field == "revision"

    def test_ensure_revision_is_permanent_error_when_name_lacks_service_prefix(
        self, harness: RouterHarness
    ) -> None:
        service, _ = seeded(harness)
        with pytest.raises(PermanentError):
            harness.router.ensure_revision(service, spec("someone-else", "2"))

    def test_set_traffic_applies_canary_then_full_when_steps_advance(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        served = harness.router.set_traffic(service, canary(service_id, 10))
        assert served == tuple(canary(service_id, 10))
        assert harness.router.get_traffic(service) == tuple(canary(service_id, 10))
        full = [
            TrafficSplit(f"{service_id}-v2", 100, "champion"),
            TrafficSplit(f"{service_id}-v1", 0, "previous"),
        ]
        assert harness.router.set_traffic(service, full) == tuple(full)

    def test_tag_revision_adds_it_at_0_percent_with_its_url_when_untagged(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        harness.router.set_traffic(service, canary(service_id, 10))
        harness.router.ensure_revision(service, spec(service_id, "3"))
        first = harness.router.tag_revision(service, f"{service_id}-v3", "smoke")
        again = harness.router.tag_revision(service, f"{service_id}-v3", "smoke")  # idempotent
        assert first == again
        assert f"smoke---{service_id}" in first.url
        assert first.audience == first.url.replace("smoke---", "") and first.audience != first.url
        assert harness.router.get_traffic(service) == (
            *canary(service_id, 10), TrafficSplit(f"{service_id}-v3", 0, "smoke"),
        )  # fmt: skip

    def test_tag_revision_moves_the_tag_off_another_revision_when_it_held_it(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        for v in ("2", "3", "4"):
            harness.router.ensure_revision(service, spec(service_id, v))
        harness.router.set_traffic(service, canary(service_id, 10))
        harness.router.tag_revision(service, f"{service_id}-v3", "candidate")
        assert harness.router.get_traffic(service) == (
            TrafficSplit(f"{service_id}-v1", 90, "champion"),
            TrafficSplit(f"{service_id}-v2", 10),  # keeps its percent, loses the tag
            TrafficSplit(f"{service_id}-v3", 0, "candidate"),
        )
        harness.router.tag_revision(service, f"{service_id}-v4", "candidate")
        assert harness.router.get_traffic(service) == (  # a 0 % target only held the tag: gone
            TrafficSplit(f"{service_id}-v1", 90, "champion"),
            TrafficSplit(f"{service_id}-v2", 10),
            TrafficSplit(f"{service_id}-v4", 0, "candidate"),
        )

    def test_tag_revision_is_permanent_error_when_the_revision_does_not_exist(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        with pytest.raises(PermanentError) as info:
            harness.router.tag_revision(service, f"{service_id}-v9", "smoke")
        assert info.value.field == "revision"
        assert harness.router.get_traffic(service) == (TrafficSplit(f"{service_id}-v1", 100),)

    @pytest.mark.parametrize("percents", [(90, 20), (50, 40)])
    def test_set_traffic_is_permanent_error_when_sum_is_not_100(
        self, harness: RouterHarness, percents: tuple[int, int]
    ) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        bad = [
            TrafficSplit(f"{service_id}-v1", percents[0]),
            TrafficSplit(f"{service_id}-v2", percents[1]),
        ]
        with pytest.raises(PermanentError):
            harness.router.set_traffic(service, bad)
        assert harness.router.get_traffic(service) == (TrafficSplit(f"{service_id}-v1", 100),)

    def test_set_traffic_is_permanent_error_when_revision_unknown(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        with pytest.raises(PermanentError):
            harness.router.set_traffic(service, [TrafficSplit(f"{service_id}-v9", 100)])

    def test_set_traffic_is_permanent_error_when_tag_repeated(self, harness: RouterHarness) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        twice = [
            TrafficSplit(f"{service_id}-v1", 50, "same"),
            TrafficSplit(f"{service_id}-v2", 50, "same"),
        ]
        with pytest.raises(PermanentError):
            harness.router.set_traffic(service, twice)

    def test_permanent_error_when_service_unknown(self, harness: RouterHarness) -> None:
        missing = f"{PARENT}/services/{unique_id('nope')}"
        with pytest.raises(PermanentError) as info:
            harness.router.get_traffic(missing)
        assert info.value.field == "service"
        with pytest.raises(PermanentError):
            harness.router.set_traffic(missing, [TrafficSplit("x", 100)])

    def test_transient_error_when_service_unavailable(self, harness: RouterHarness) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        harness.make_unavailable(times=2)
        with pytest.raises(TransientError):
            harness.router.set_traffic(service, canary(service_id, 10))
        with pytest.raises(TransientError):
            harness.router.get_traffic(service)
        assert harness.router.set_traffic(service, canary(service_id, 10)) == tuple(
            canary(service_id, 10)
        )

    def test_transient_error_and_traffic_unchanged_when_operation_fails(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        before = harness.router.get_traffic(service)
        harness.fail_next_operation("revision not ready")
        with pytest.raises(TransientError) as info:
            harness.router.set_traffic(service, canary(service_id, 50))
        assert "revision not ready" in info.value.reason
        assert harness.router.get_traffic(service) == before
        assert harness.router.set_traffic(service, canary(service_id, 50)) == tuple(
            canary(service_id, 50)
        )

    def test_transient_error_and_no_revision_when_its_operation_fails_before_creating_it(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.fail_next_operation("quota exceeded")
        with pytest.raises(TransientError):
            harness.router.ensure_revision(service, spec(service_id, "2"))
        assert harness.router.ensure_revision(service, spec(service_id, "2")) == f"{service_id}-v2"

    def test_permanent_error_saying_what_to_do_when_the_revision_failed_to_become_ready(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.fail_next_operation("container failed to start", revision_fails=True)
        for _ in range(2):  # the failed revision stays: a redelivery meets it again
            with pytest.raises(PermanentError) as info:
                harness.router.ensure_revision(service, spec(service_id, "2"))
            assert info.value.field == "revision"
            assert "container failed to start" in info.value.reason
            assert "delete" in info.value.reason and "new version" in info.value.reason
        assert harness.router.get_traffic(service) == (TrafficSplit(f"{service_id}-v1", 100),)
        with pytest.raises(PermanentError):
            harness.router.set_traffic(service, canary(service_id, 10))
        harness.delete_revision(service, f"{service_id}-v2")  # what the reason says to do
        assert harness.router.ensure_revision(service, spec(service_id, "2")) == f"{service_id}-v2"
        assert harness.router.set_traffic(service, canary(service_id, 10)) == tuple(
            canary(service_id, 10)
        )

    def test_ensure_revision_is_permanent_error_when_name_taken_whatever_the_wording(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        harness.refuse_next_write("ALREADY_EXISTS", "Requested entity already exists")
        with pytest.raises(PermanentError) as info:
            harness.router.ensure_revision(service, spec(service_id, "2"))
        assert "already exists" in info.value.reason

    def test_ensure_revision_serves_on_the_new_port_when_the_port_changes(
        self, harness: RouterHarness
    ) -> None:
        service, service_id = seeded(harness)
        moved = RevisionSpec(**{**spec(service_id, "2").__dict__, "port": 9090})
        assert harness.router.ensure_revision(service, moved) == f"{service_id}-v2"

    def test_set_traffic_is_permanent_error_when_tag_and_service_id_exceed_46_characters(
        self, harness: RouterHarness
    ) -> None:
        service_id = unique_id("c" * 29)  # 38 characters: room for "champion", not "candidate"
        service = harness.seed(service_id, spec(service_id, "1"))
        harness.router.ensure_revision(service, spec(service_id, "2"))
        assert harness.router.set_traffic(
            service, [TrafficSplit(f"{service_id}-v1", 100, "champion")]
        ) == (TrafficSplit(f"{service_id}-v1", 100, "champion"),)
        with pytest.raises(PermanentError) as info:
            harness.router.set_traffic(service, canary(service_id, 10))
        assert "candidate" in info.value.reason

    @pytest.mark.parametrize("stale_etag", ["ABORTED", "FAILED_PRECONDITION"])
    def test_transient_error_when_a_racing_writer_changed_the_service(
        self, harness: RouterHarness, stale_etag: str
    ) -> None:
        service, service_id = seeded(harness)
        harness.router.ensure_revision(service, spec(service_id, "2"))
        theirs = canary(service_id, 50)
        harness.race_next_write(service, theirs, stale_etag)
        with pytest.raises(TransientError):
            harness.router.set_traffic(service, canary(service_id, 10))
        deadline = time.monotonic() + 10
        while harness.router.get_traffic(service) != tuple(theirs):
            assert time.monotonic() < deadline, "the racing writer's traffic never landed"
            time.sleep(0.05)


def test_cloudrun_adapter_is_permanent_error_when_service_name_malformed() -> None:
    router = CloudRunTrafficRouter("us-central1", endpoint="http://127.0.0.1:9")
    with pytest.raises(PermanentError) as info:
        router.get_traffic("churn")
    assert info.value.field == "service"


HOSTILE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>p{x:y}</style></head>"
    "<body>\n<h1>Bad\r\nGateway</h1>\x1b[31mred\x1b[0m\x00" + "x" * 200_000 + "</body></html>"
)


@pytest.mark.parametrize(("status", "error"), [(502, TransientError), (400, PermanentError)])
def test_reason_is_one_bounded_line_when_cloud_run_answers_an_html_page(
    standin: StandInServer, status: int, error: type[Exception]
) -> None:
    service_id = unique_id("churn")
    service = standin.create_service(service_id, f"{service_id}-v1", IMAGE)
    standin.set_fault(match=f"GET /v2/{service}", status=status, body=HOSTILE_PAGE, count=1)
    router = CloudRunTrafficRouter(standin.location, endpoint=standin.endpoint, timeout_s=10)
    with pytest.raises(error) as info:
        router.get_traffic(service)
    reason = info.value.reason  # type: ignore[attr-defined]
    assert "Bad Gateway" in reason
    assert len(reason) < 600
    assert reason.isprintable() and "<" not in reason


def test_set_traffic_writes_only_the_traffic_field_when_the_template_is_unchanged(
    standin: StandInServer,
) -> None:
    """Cloud Run has judged an echoed template a "different configuration" (409): a traffic
    write names `traffic` in its update mask, so the template is never part of it."""
    service_id = unique_id("churn")
    service = standin.create_service(service_id, f"{service_id}-v1", IMAGE)
    standin.set_fault(match="?updateMask=traffic", status=503, count=1)
    router = CloudRunTrafficRouter(standin.location, endpoint=standin.endpoint, timeout_s=10)
    with pytest.raises(TransientError):
        router.set_traffic(service, [TrafficSplit(f"{service_id}-v1", 100, "champion")])
    assert standin.state()["faults_fired"] and not standin.state()["faults"]
