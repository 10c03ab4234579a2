"""Core: the pending record — built, advanced with backoff, given up on, turned back into its event."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from interlock.core.errors import PermanentError
from interlock.core.events import ModelEvaluated
from interlock.core.inbound import Inbound
from interlock.core.keys import decision_id
from interlock.core.outcome import pending_outcome
from interlock.core.pending import (
    advance,
    failed_again,
    inbound_of,
    original_of,
    park,
    retry_wait,
    story,
)
from interlock.core.policy import PendingPolicy, PolicyError
from interlock.core.policy_load import load_policy
from tests.builders import NOW, POLICY_DOC

POLICY = PendingPolicy(give_up_after_s=3600, retry_first_s=60, retry_max_s=900)
EVALUATED = ModelEvaluated(
    model="churn", version="3", dataset_id="ds", sample_count=10, metrics={"auc": 0.9},
    evaluated_at=NOW, run_id="r3",
)  # fmt: skip
EVENT = Inbound(id="e1", type="dev.interlock.model.evaluated.v1", source="//t", time=NOW,
                payload=EVALUATED, message_id="m1")  # fmt: skip


@pytest.mark.parametrize(("attempts", "minutes"), [(1, 1), (2, 2), (4, 8), (5, 15), (40, 15)])
def test_retry_wait_doubles_from_the_first_up_to_the_max_when_attempts_grow(attempts, minutes):
    assert retry_wait(attempts, POLICY) == timedelta(minutes=minutes)


def test_parked_event_round_trips_to_the_same_inbound_when_re_driven():
    record = park(EVENT, "evaluated:churn:3:r3", "503", NOW, POLICY)
    assert (record.attempts, record.next_attempt, record.subject) == (
        1,
        NOW + timedelta(minutes=1),
        "churn",
    )
    assert inbound_of(record) == EVENT


def test_advance_never_schedules_past_the_limit_and_gives_up_once_it_is_reached():
    record = park(EVENT, "k", "503", NOW, POLICY)
    late = advance(record, "still 503", NOW + timedelta(minutes=59), POLICY)
    assert late is not None and late.next_attempt == NOW + timedelta(hours=1)
    assert late.attempts == 2 and late.reason == "still 503" and late.first_failed == NOW
    assert advance(late, "503", NOW + timedelta(hours=1), POLICY) is None


def test_failed_again_gives_up_at_once_when_the_policy_keeps_nothing():
    assert failed_again(None, EVENT, "k", "503", NOW, PendingPolicy(give_up_after_s=0)) is None


def test_corrupt_record_is_a_permanent_error_naming_the_field():
    record = park(EVENT, "k", "503", NOW, POLICY)
    with pytest.raises(PermanentError) as err:
        inbound_of(dataclasses.replace(record, payload="{not json"))
    assert err.value.field == "pending.payload"


def test_policy_reads_the_pending_section_when_given_and_defaults_to_a_day():
    assert load_policy(POLICY_DOC).pending == PendingPolicy(86400, 60, 900)
    doc = {**POLICY_DOC, "pending": {"give_up_after": "2h", "retry_first": "5s", "retry_max": "1m"}}
    assert load_policy(doc).pending == PendingPolicy(7200, 5, 60)


def test_policy_lists_every_pending_problem_when_the_section_is_wrong():
    doc = {**POLICY_DOC, "pending": {"give_up_after": "soon", "retry_first": "0s", "tries": 3}}
    with pytest.raises(PolicyError) as err:
        load_policy(doc)
    problems = "\n".join(err.value.problems)
    assert "pending.give_up_after: expected a duration" in problems
    assert "pending.retry_first: must be at least 1s" in problems
    assert "pending.tries: unknown key" in problems


def test_pending_outcome_has_its_own_id_per_attempt_and_says_until_when():
    first = park(EVENT, "k", "503", NOW, POLICY)
    second = advance(first, "503", NOW + timedelta(minutes=1), POLICY)
    assert second is not None
    ids = {pending_outcome(r, POLICY, NOW).decision_id for r in (first, second)}
    assert len(ids) == 2 and decision_id("k") not in ids
    outcome = pending_outcome(first, POLICY, NOW)
    assert outcome.kind == "pending" and outcome.subject == "churn"
    assert outcome.reasons[2].endswith("gives up at 2026-11-25T13:00:00Z")


def test_story_and_dead_letter_message_keep_the_event_and_its_history():
    record = park(EVENT, "k", "503", NOW, POLICY)
    told = story(record, "still 503", NOW + timedelta(hours=1), POLICY)
    assert told.startswith("gave up after 2 attempts over 1h (pending since 2026-11-25T12:00:00Z")
    assert told.endswith("last failure: still 503")
    message = original_of(record)
    assert message.attributes["ce-id"] == "e1"
    assert json.loads(message.data)["run_id"] == "r3"


def test_park_refuses_a_delivery_without_a_payload_of_ours():
    ignored = dataclasses.replace(EVENT, payload=None)
    with pytest.raises(PermanentError):
        park(ignored, "k", "503", NOW, POLICY)
