"""The committed JSON Schemas in events/schemas: in sync with core, and true of every sample."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from interlock import contract
from interlock.core.codec import decode, encode
from interlock.core.errors import PermanentError
from interlock.core.events import (
    DECISION_RECORDED,
    GCS_FINALIZED,
    OUTCOME_TYPES,
    AlertIncident,
    DataLanded,
    Outcome,
)
from interlock.core.inbound import Inbound
from interlock.core.kinds import OWN_TYPES
from interlock_dev import schemas
from tests.unit.test_samples import GOLDEN, SAMPLES, is_binary, load, parse_sample

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "events" / "schemas"
README = ROOT / "events" / "README.md"
RENDERED = contract.render_schemas()

OUTCOME = Outcome(
    decision_id="d-20240603-0007",
    kind="rejected",
    subject="churn",
    event_id="9b2e4c61-6f0a-4d7e-8a41-3c5d2f7e9a10",
    event_type="dev.interlock.model.evaluated.v1",
    reasons=("accuracy 0.79 < 0.80", "sample_count 150 < 200"),
    effects=(),
    decided_at=datetime(2024, 6, 3, 10, 42, 19, 120000, tzinfo=UTC),
)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_schema_matches_core_when_rendered(name: str) -> None:
    path = SCHEMA_DIR / name
    assert path.is_file() and path.read_text() == RENDERED[name], (
        f"events/schemas/{name} has drifted from core/events.py: run `make schemas`"
    )


def test_no_stale_schema_is_committed_when_core_drops_a_type() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(RENDERED), (
        "run `make schemas`"
    )


def test_readme_tables_match_the_schemas_when_rendered() -> None:
    text = README.read_text()
    assert schemas.sync_readme(text) == text, "events/README.md tables drifted: run `make schemas`"
    for entry in contract.SCHEMAS:
        assert f"<!-- fields: {entry.file} -->" in text, entry.file


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_schema_is_valid_draft_2020_12_when_checked_by_the_metaschema(name: str) -> None:
    body = json.loads(RENDERED[name])
    jsonschema.Draft202012Validator.check_schema(body)
    assert body["$id"] == f"https://interlock.dev/schemas/{name}"


def test_schemas_cover_every_payload_type_when_listed() -> None:
    by_class = {entry.cls: entry for entry in contract.SCHEMAS}
    assert set(by_class) == {*OWN_TYPES.values(), DataLanded, AlertIncident, Outcome}
    for ce_type, cls in OWN_TYPES.items():
        assert by_class[cls].ce_type == ce_type
    assert by_class[DataLanded].ce_type == GCS_FINALIZED


@pytest.mark.parametrize("ce_type", sorted({*OUTCOME_TYPES.values(), DECISION_RECORDED}))
def test_outcome_schema_applies_when_the_type_is_any_outcome_type(ce_type: str) -> None:
    assert contract.schema_for_type(ce_type)["$id"].endswith("/outcome.v1.json")
    contract.validate(ce_type, encode(OUTCOME))


def _wire_payload(doc: Any) -> Any | None:
    """The JSON payload as published, for our own types (None for Google's object resources)."""
    import base64

    if is_binary(doc):
        doc = doc["body"]
    if "message" in doc:
        data = doc["message"].get("data")
        return json.loads(base64.b64decode(data)) if data else None
    if doc.get("type") in OWN_TYPES:
        return doc["data"]
    if isinstance(doc.get("data"), dict) and "message" in doc["data"]:
        return json.loads(base64.b64decode(doc["data"]["message"]["data"]))
    return None


def _parsed(name: str) -> Inbound:
    return parse_sample(load(SAMPLES / name))


@pytest.mark.parametrize("name", GOLDEN)
def test_sample_payload_validates_against_its_schema_when_encoded(name: str) -> None:
    event = _parsed(name)
    if event.payload is None:
        pytest.skip("an ignored delivery carries no payload")
    contract.validate(event.type, encode(event.payload))
    wire = _wire_payload(load(SAMPLES / name))
    if event.type in OWN_TYPES and wire is not None:
        # What producers in other languages publish must pass the schema as is.
        contract.validate(event.type, wire)


@pytest.mark.parametrize("name", GOLDEN)
def test_decode_encode_round_trips_when_given_a_sample_payload(name: str) -> None:
    event = _parsed(name)
    if event.payload is None:
        pytest.skip("an ignored delivery carries no payload")
    cls = type(event.payload)
    encoded = encode(event.payload)
    assert decode(cls, encoded) == event.payload
    assert encode(decode(cls, encoded)) == encoded
    # json text round trip too: what goes on the wire comes back equal.
    assert decode(cls, json.loads(json.dumps(encoded))) == event.payload


def test_outcome_round_trips_when_encoded_and_decoded() -> None:
    assert decode(Outcome, encode(OUTCOME)) == OUTCOME
    assert encode(decode(Outcome, encode(OUTCOME))) == encode(OUTCOME)


EVALUATED = "dev.interlock.model.evaluated.v1"


def _evaluated(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = dict(load(SAMPLES / "structured/model.evaluated.json")["data"])
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


@pytest.mark.parametrize(
    ("payload", "field", "contains"),
    [
        (_evaluated(metrics={"accuracy": "0.874"}), "metrics.accuracy", "not of type 'number'"),
        (_evaluated(sample_count=-1), "sample_count", "minimum"),
        (_evaluated(version="v7"), "version", "does not match"),
        (_evaluated(evaluated_at="2024-06-03T10:42:17"), "evaluated_at", "date-time"),
        (_evaluated(run_id=...), "run_id", "required field missing"),
        (_evaluated(sample_cout=5000), "sample_cout", "unknown field"),
        (_evaluated(model="c" * 2000), "model", "too long"),
        ([1], "data", "not of type 'object'"),
    ],
    ids=[
        "metric-string",
        "negative",
        "version",
        "naive-time",
        "missing",
        "typo",
        "too-long",
        "not-object",
    ],
)
def test_validate_names_the_field_when_the_payload_breaks_the_schema(
    payload: Any, field: str, contains: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        contract.validate(EVALUATED, payload)
    assert caught.value.field == field
    assert contains in caught.value.reason


def test_validate_names_the_list_index_when_an_outcome_reason_is_not_a_string() -> None:
    payload = encode(OUTCOME) | {"reasons": ["ok", 7]}
    with pytest.raises(PermanentError) as caught:
        contract.validate(OUTCOME_TYPES["rejected"], payload)
    assert caught.value.field == "reasons[1]"


def test_validate_refuses_the_type_when_it_is_unknown() -> None:
    with pytest.raises(PermanentError) as caught:
        contract.validate("dev.interlock.model.trained.v1", {})
    assert caught.value.field == "type"


def test_check_exits_1_and_names_the_file_when_a_schema_drifted(tmp_path: Path) -> None:
    schemas.write(tmp_path)
    assert schemas.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "model.evaluated.v1.json").write_text("{}\n")
    (tmp_path / "model.retired.v1.json").write_text("{}\n")
    assert schemas.drifted(tmp_path) == ["model.evaluated.v1.json", "model.retired.v1.json"]
    assert schemas.main(["--check", str(tmp_path)]) == 1
    assert schemas.write(tmp_path) == ["model.evaluated.v1.json", "model.retired.v1.json"]
    assert schemas.drifted(tmp_path) == []


def test_jsonschema_is_not_imported_when_the_contract_module_loads() -> None:
    # Functions import the core on their cold path; the validator must stay out of it.
    code = "import sys, interlock.contract; print('jsonschema' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


_EXAMPLE = re.compile(r"<!-- example: (?P<type>[\w.]+) -->\n```json\n(?P<body>.*?)\n```", re.DOTALL)


def test_every_readme_example_validates_when_checked_against_its_type() -> None:
    examples = list(_EXAMPLE.finditer(README.read_text()))
    assert len(examples) == len(contract.SCHEMAS)
    for match in examples:
        contract.validate(match["type"], json.loads(match["body"]))


@pytest.mark.parametrize("ce_type", sorted(OWN_TYPES))
def test_readme_names_the_topic_and_function_when_listing_our_types(ce_type: str) -> None:
    from interlock import topics

    row = next(
        line for line in README.read_text().splitlines() if line.startswith(f"| `{ce_type}`")
    )
    topic = topics.topic_for(ce_type)
    assert f"`{topic}`" in row
    assert f"`{topics.SUBSCRIBERS[topic]}`" in row
