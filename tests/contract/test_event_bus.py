"""Contract: `PubSubEventBus` on the Pub/Sub emulator, and what a push delivers to a function.

The push tests run `tests/data/echo_function.py` under functions-framework, as Cloud Functions
would: the emulator's raw push body is converted by functions-framework into the
`messagePublished` CloudEvent our entry points parse.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.adapters.pubsub import PubSubEventBus
from interlock.core.binding import cloudevent_message, payload_message
from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import PUBSUB_PUBLISHED, Outcome
from interlock_dev.emulators import Emulator
from interlock_dev.processes import HOST, ServiceProcess, port_is_free, wait_until
from interlock_dev.pubsub_admin import DeliveryPolicy, PubSubAdmin, Pulled, push_endpoint
from tests.fixtures.emulators import emulator_port
from tests.fixtures.waiting import wait_for

ECHO_SOURCE = Path(__file__).parent.parent / "data" / "echo_function.py"
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
EVALUATED = "dev.interlock.model.evaluated.v1"


@dataclass(frozen=True)
class Functions:
    echo_url: str
    reject_url: str
    received: Path

    def deliveries(self, message_id: str) -> list[dict[str, Any]]:
        if not self.received.exists():
            return []
        lines = [json.loads(line) for line in self.received.read_text().splitlines()]
        return [d for d in lines if d["id"] == message_id]


@pytest.fixture(scope="module")
def functions(
    pubsub_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Functions]:
    """Two functions-framework servers: `echo` records each CloudEvent, `reject` always fails."""
    workdir = tmp_path_factory.mktemp("functions")
    received = workdir / "received.jsonl"
    servers: list[ServiceProcess] = []
    ports: list[int] = []
    try:
        for target in ("echo", "reject"):
            port = emulator_port(47100)
            ports.append(port)
            argv = [
                str(FUNCTIONS_FRAMEWORK),
                *("--target", target, "--source", str(ECHO_SOURCE)),
                *("--signature-type", "cloudevent", "--host", HOST, "--port", str(port)),
            ]
            env = {**os.environ, "ECHO_OUT": str(received)}
            servers.append(ServiceProcess(target, argv, workdir / f"{target}.log", env).start())
        for server, port in zip(servers, ports, strict=True):
            wait_until(lambda p=port: not port_is_free(p), 20, server.name, server)
        yield Functions(f"http://{HOST}:{ports[0]}", f"http://{HOST}:{ports[1]}", received)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def admin(pubsub_project: str) -> Iterator[PubSubAdmin]:
    client = PubSubAdmin(pubsub_project)
    yield client
    client.close()


@pytest.fixture
def bus(pubsub_project: str) -> Iterator[PubSubEventBus]:
    client = PubSubEventBus(pubsub_project, timeout_s=5)
    yield client
    client.close()


def pull_one(admin: PubSubAdmin, subscription: str, timeout_s: float = 10) -> Pulled:
    found = wait_for(lambda: admin.pull(subscription), timeout_s, f"a message on {subscription}")
    assert len(found) == 1
    return found[0]


def sample() -> dict[str, Any]:
    return {"model": "churn", "version": "8", "metrics": {"auc": 0.91}}


def test_message_carries_the_cloudevents_binding_when_built_from_a_payload() -> None:
    msg = cloudevent_message(EVALUATED, "//interlock/test", "ev-1", T0, sample())
    assert json.loads(msg.data) == sample()
    assert msg.attributes == {
        "ce-specversion": "1.0",
        "ce-type": EVALUATED,
        "ce-source": "//interlock/test",
        "ce-id": "ev-1",
        "ce-time": "2026-03-01T12:00:00.250000Z",
        "content-type": "application/json",
    }


def test_outcome_type_follows_its_kind_when_an_outcome_becomes_a_message() -> None:
    outcome = Outcome("d-1", "rolled_back", "churn", "e-1", EVALUATED, ("breach",), (), T0)
    msg = payload_message(outcome, "//interlock/test", "d-1", T0)
    assert msg.attributes["ce-type"] == "dev.interlock.model.rolled_back.v1"
    assert json.loads(msg.data)["decided_at"] == "2026-03-01T12:00:00.250000Z"


class TestPubSubEventBus:
    def test_published_message_is_pulled_back_intact_when_the_topic_has_a_subscription(
        self, bus: PubSubEventBus, admin: PubSubAdmin
    ) -> None:
        admin.ensure_topic("decisions")
        admin.ensure_topic("decisions")  # idempotent
        admin.ensure_subscription("decisions-tail", "decisions")
        msg = cloudevent_message(EVALUATED, "//interlock/test", "ev-2", T0, sample())
        message_id = bus.publish("decisions", msg)
        pulled = pull_one(admin, "decisions-tail")
        assert pulled.message_id == message_id
        assert pulled.message.data == msg.data
        assert pulled.message.attributes == msg.attributes

    def test_publish_raises_permanent_error_when_the_topic_does_not_exist(
        self, bus: PubSubEventBus
    ) -> None:
        msg = cloudevent_message(EVALUATED, "//interlock/test", "ev-3", T0, sample())
        with pytest.raises(PermanentError, match="NOT_FOUND"):
            bus.publish("no-such-topic", msg)

    def test_publish_raises_transient_error_when_pubsub_is_unreachable(
        self, pubsub_project: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"{HOST}:{emulator_port(47150)}")
        unreachable = PubSubEventBus(pubsub_project, timeout_s=1)
        msg = cloudevent_message(EVALUATED, "//interlock/test", "ev-4", T0, sample())
        try:
            with pytest.raises(TransientError):
                unreachable.publish("decisions", msg)
        finally:
            unreachable.close()

    def test_function_receives_our_cloudevent_when_the_emulator_pushes_to_functions_framework(
        self, bus: PubSubEventBus, admin: PubSubAdmin, functions: Functions, pubsub_project: str
    ) -> None:
        admin.ensure_topic("evaluated")
        policy = DeliveryPolicy(min_backoff_s=0.1, max_backoff_s=1)
        # Created first towards a dead endpoint, then re-ensured: delivery proves it converged.
        admin.ensure_subscription(
            "evaluated-push", "evaluated", policy, push_to="http://127.0.0.1:9/"
        )
        endpoint = push_endpoint(functions.echo_url, pubsub_project, "evaluated")
        admin.ensure_subscription("evaluated-push", "evaluated", policy, push_to=endpoint)
        msg = cloudevent_message(EVALUATED, "//interlock/test", "ev-5", T0, sample())
        message_id = bus.publish("evaluated", msg)

        (event,) = wait_for(lambda: functions.deliveries(message_id), 15, "the pushed event")
        assert event["type"] == PUBSUB_PUBLISHED
        assert (
            event["source"] == f"//pubsub.googleapis.com/projects/{pubsub_project}/topics/evaluated"
        )
        # functions-framework keeps only these of the raw push body: no subscription, no
        # deliveryAttempt, and it adds the PubsubMessage "@type".
        message = event["data"]["message"]
        assert set(event["data"]) == {"message"}
        assert set(message) == {"@type", "data", "attributes", "messageId", "publishTime"}
        assert base64.b64decode(message["data"]) == msg.data
        assert message["attributes"] == msg.attributes
        assert message["messageId"] == message_id

    def test_message_is_dead_lettered_when_the_function_keeps_failing(
        self, bus: PubSubEventBus, admin: PubSubAdmin, functions: Functions, pubsub_project: str
    ) -> None:
        admin.ensure_topic("observed")
        admin.ensure_topic("observed-dead")
        admin.ensure_subscription("observed-dead-tail", "observed-dead")
        policy = DeliveryPolicy(
            min_backoff_s=0.1,
            max_backoff_s=1,
            dead_letter_topic="observed-dead",
            max_delivery_attempts=5,  # the minimum Pub/Sub allows
        )
        endpoint = push_endpoint(functions.reject_url, pubsub_project, "observed")
        admin.ensure_subscription("observed-push", "observed", policy, push_to=endpoint)
        msg = cloudevent_message(EVALUATED, "//interlock/test", "ev-6", T0, sample())
        message_id = bus.publish("observed", msg)

        # The emulator spaces push retries ~1 s then ~3 s apart whatever the policy says.
        dead = pull_one(admin, "observed-dead-tail", timeout_s=30)
        assert dead.message.data == msg.data
        assert {k: v for k, v in dead.message.attributes.items() if k.startswith("ce-")} == {
            k: v for k, v in msg.attributes.items() if k.startswith("ce-")
        }
        assert dead.message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
        assert dead.message.attributes["CloudPubSubDeadLetterSourceSubscription"] == "observed-push"
        assert len(functions.deliveries(message_id)) == 5
