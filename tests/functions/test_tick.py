"""`on_tick` over HTTP: a tick re-drives what is due and is always acked; it records nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock import bootstrap
from interlock.core.errors import TransientError
from interlock.core.events import DataLanded, Tick
from tests.fakes.ledger import FakeLedger
from tests.functions.test_entry_points import SHAPES, binary, client
from tests.handlers.world import World, evaluation, inbound

LANDED = DataLanded(bucket="landing", name="churn/t.csv", generation=2)


@pytest.fixture
def world(monkeypatch):
    w = World()
    monkeypatch.setattr(bootstrap, "handler", lambda: w.handler)
    monkeypatch.setattr(bootstrap, "ticker", lambda: w.ticker)
    return w


@pytest.mark.parametrize("send", SHAPES, ids=lambda f: f.__name__)
def test_tick_re_drives_a_due_pending_landing_when_airflow_is_back(world, send):
    world.dags.unavailable = True
    world.handler.handle(inbound(LANDED))
    world.dags.unavailable = False
    world.now += timedelta(minutes=1)
    assert send(client("on_tick"), Tick(schedule="every-minute")).status_code == 200
    assert [o.kind for o in world.ledger.outcomes()] == ["triggered"]
    assert world.ledger.parked() == [] and len(world.dags.runs) == 1


def test_tick_twice_records_nothing_and_changes_nothing_twice(world):
    c = client("on_tick")
    assert binary(c, Tick(), "tick-1").status_code == 200
    assert binary(c, Tick(), "tick-1").status_code == 200
    assert world.ledger.outcomes() == [] and world.bus.topics == {}


class _DownLedger(FakeLedger):
    def parked(self, limit=50, due=None):
        raise TransientError("ledger unreachable")


def test_tick_is_acked_when_the_ledger_is_unreachable(monkeypatch):
    w = World(ledger=_DownLedger())
    monkeypatch.setattr(bootstrap, "ticker", lambda: w.ticker)
    assert binary(client("on_tick"), Tick()).status_code == 200


def test_other_event_sent_to_on_tick_is_dead_lettered_naming_the_type(world):
    assert binary(client("on_tick"), evaluation("1")).status_code == 200
    (outcome,) = world.ledger.outcomes()
    assert (
        outcome.kind == "dead_lettered"
        and "on_tick takes tick, not model.evaluated" in outcome.reasons[0]
    )
    assert world.traffic() == {"churn-00001-boot": 100}
