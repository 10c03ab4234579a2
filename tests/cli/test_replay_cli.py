"""`interlock replay` as an operator uses it: a dead letter is listed with its reason and field,
re-run on purpose once its cause is fixed, decided once, linked to the original."""

from __future__ import annotations

import base64
import json

from interlock.core.binding import payload_message
from interlock.core.inbound import parse_document
from tests.builders import NOW
from tests.cli.test_cli import run
from tests.handlers.world import VERTEX, evaluation


def _dead_letter_file(w, tmp_path) -> str:
    """v6 is not in the registry yet: its evaluation is dead-lettered with the original kept."""
    message = payload_message(evaluation("6"), "//test", "ev-6", NOW)
    w.handler.handle(parse_document({"message": {"data": base64.b64encode(message.data).decode(),
                     "attributes": message.attributes, "messageId": "m6"}}), message)  # fmt: skip
    (letter,) = w.bus.topics["dead-letter"]
    path = tmp_path / "dead-letters.json"
    path.write_text(json.dumps([{"message_id": "dl-1", "data": base64.b64encode(letter.data).decode(),
                                 "attributes": letter.attributes}]))  # fmt: skip
    return str(path)


def test_replay_lists_dead_letters_with_reason_and_field_when_nothing_is_picked(
    capsys, tmp_path, world_url
):
    w, _ = world_url
    from tests.handlers.world import inbound

    w.handler.handle(inbound(evaluation("1"), "e1"))
    code, out, err = run(capsys, "replay", "--file", _dead_letter_file(w, tmp_path))
    assert code == 0, err
    assert "dl-1  dev.interlock.model.evaluated.v1  event ev-6" in out
    assert "field version: " in out and "NOT_FOUND" in out


def test_replayed_dead_letter_is_decided_once_with_its_link_to_the_original(
    capsys, tmp_path, world_url
):
    w, url = world_url
    from tests.handlers.world import inbound

    w.handler.handle(inbound(evaluation("1"), "e1"))
    letters = _dead_letter_file(w, tmp_path)
    assert w.ledger.get("evaluated:churn:6:run-6").kind == "dead_lettered"
    w.registry.seed_version(VERTEX, "gs://models/churn/6")  # the cause, fixed
    code, out, err = run(capsys, "replay", "--file", letters, "--pick", "dl-1", "--by", "ana",
                         "--reason", "registry fixed", "--to", url, "--no-wait")  # fmt: skip
    assert code == 0, err and "replayed dl-1 as request req-" in out
    (rerun,) = [o for o in w.ledger.outcomes() if o.requested_by == "ana"]
    assert rerun.kind == "promoted" and rerun.manual and rerun.request_id.startswith("req-")
    assert rerun.reasons[0] == (
        "replay by ana of dead-lettered event ev-6 (dev.interlock.model.evaluated.v1): registry fixed"
    )
    assert w.traffic() == {"churn-v1": 90, "churn-v6": 10}
    # The first record stays what it was: the re-run is a new decision, not a rewrite.
    assert w.ledger.get("evaluated:churn:6:run-6").kind == "dead_lettered"


def test_replay_refuses_a_pick_that_is_not_among_the_dead_letters(capsys, tmp_path):
    path = tmp_path / "none.json"
    path.write_text("[]")
    code, _, err = run(capsys, "replay", "--file", str(path), "--pick", "zz")
    assert code == 1 and "--pick zz: not among the 0 dead letter(s) read" in err
