"""Handlers on fakes: a dead letter is recorded and sent once, and an unknown model never waits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from interlock.core.errors import PermanentError
from interlock.core.keys import idempotency_key
from interlock.ports import Message

from .world import World, evaluation, inbound

ORIGINAL = Message(b'{"model": "churn"}', {"ce-id": "e1"})


def test_racing_dead_letters_of_one_key_send_one_message_when_the_second_loses_the_record():
    w = World()
    key = idempotency_key(inbound(evaluation("1")))
    err = PermanentError("metrics.auc", "not a number")
    first = w.handler.dead_letter("e1", "t", key, err, ORIGINAL)
    w.now += timedelta(seconds=1)  # the racer decides a moment later and loses the record
    second = w.handler.dead_letter("e1", "t", key, err, ORIGINAL)
    assert second == first == w.ledger.get(key)
    (sent,) = w.bus.topics["dead-letter"]
    assert sent.data == ORIGINAL.data
    assert sent.attributes["interlock-field"] == "metrics.auc"
    # Each delivery still answers with the recorded decision (the first publish may be lost).
    decided = [p["decided_at"] for p in w.bus.payloads("decisions")]
    assert len(decided) == 2 and decided[0] == decided[1]


def test_unknown_model_is_dead_lettered_at_once_when_its_name_is_leased_by_another_holder():
    w = World()
    unknown = replace(evaluation("1"), model="nobody")
    assert w.ledger.acquire("nobody", "another-delivery", 600, w.now)
    outcome = w.handler.handle(inbound(unknown))  # no TransientError "busy" after the lease wait
    assert outcome.kind == "dead_lettered"
    assert outcome.reasons[0].startswith("model: unknown model 'nobody'")
    assert w.ledger.get(idempotency_key(inbound(unknown))) == outcome
    (sent,) = w.bus.topics["dead-letter"]
    assert sent.attributes["interlock-field"] == "model"
    # The other holder's lease is untouched: nobody else may take it yet.
    assert not w.ledger.acquire("nobody", "a-third-holder", 600, w.now)
