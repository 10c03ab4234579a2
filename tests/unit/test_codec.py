"""Codec: one dataclass description drives validation (errors name the field), encoding, schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pytest

from interlock.contract import schema
from interlock.core import codec
from interlock.core.codec import decode, encode, spec
from interlock.core.errors import PermanentError, TransientError
from interlock.core.state import ModelState
from tests.builders import state, windows


@dataclass(frozen=True)
class Inner:
    n: int = spec(minimum=1, maximum=5)


@dataclass(frozen=True)
class Sample:
    """A sample payload."""

    name: str = spec(max_length=8, pattern=r"^[a-z]+$", description="lower-case name")
    score: float = spec()
    when: datetime = spec()
    metrics: Mapping[str, float] = spec(finite=False)
    tags: tuple[str, ...] = spec(())
    inner: Inner | None = spec(None)
    mode: Literal["a", "b"] = spec("a")
    flag: bool = spec(False)


GOOD = {"name": "abc", "score": 1, "when": "2026-11-25T10:00:00Z", "metrics": {"auc": 0.5}}


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"name": 3}, "name", "expected a string, got a number"),
        ({"name": "abcdefghi"}, "name", "too long: 9 characters, at most 8"),
        ({"name": "ABC"}, "name", "does not match"),
        ({"name": "a\x00b"}, "name", "control characters"),
        ({"score": "1.0"}, "score", "expected a number, got a string"),
        ({"score": True}, "score", "expected a number, got a boolean"),
        ({"score": float("nan")}, "score", "must be finite"),
        ({"when": "2026-11-25T10:00:00"}, "when", "needs a time zone"),
        ({"when": "yesterday"}, "when", "not an RFC 3339 timestamp"),
        ({"when": 5}, "when", "expected an RFC 3339 timestamp string"),
        ({"tags": "x"}, "tags", "expected a list"),
        ({"tags": ["x"] * 65}, "tags", "too many items"),
        ({"tags": [1]}, "tags[0]", "expected a string"),
        ({"metrics": []}, "metrics", "expected an object, got a list"),
        ({"metrics": {"auc": "high"}}, "metrics.auc", "expected a number"),
        ({"metrics": {"bad key": 1}}, "metrics.bad key", "key must match"),
        ({"metrics": {f"m{i}": 1 for i in range(65)}}, "metrics", "too many entries"),
        ({"inner": {"n": 0}}, "inner.n", "must be >= 1"),
        ({"inner": {"n": 6}}, "inner.n", "must be <= 5"),
        ({"inner": {"n": 1.5}}, "inner.n", "expected an integer"),
        ({"inner": {"n": None}}, "inner.n", "must not be null"),
        ({"mode": "c"}, "mode", "must be one of 'a', 'b'"),
        ({"flag": "yes"}, "flag", "expected true or false"),
        ({"extra": 1}, "extra", "unknown field"),
    ],
)
def test_decode_names_the_field_when_value_is_invalid(change, field, fragment):
    with pytest.raises(PermanentError) as err:
        decode(Sample, {**GOOD, **change})
    assert err.value.field == field
    assert fragment in err.value.reason


def test_decode_reports_missing_required_field_and_non_object():
    with pytest.raises(PermanentError, match="score: required field missing"):
        decode(Sample, {k: v for k, v in GOOD.items() if k != "score"})
    with pytest.raises(PermanentError, match="data: expected an object, got a list"):
        decode(Sample, [])


def test_decode_accepts_non_finite_metrics_and_integral_floats_when_allowed():
    value = decode(Sample, {**GOOD, "metrics": {"auc": float("nan")}, "inner": {"n": 2.0}})
    assert value.inner == Inner(2)
    assert value.when == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_encode_round_trips_rich_state_when_stored_as_json():
    rich = state(candidate="4", step=1, healthy=1, windows=windows("churn-v4", "healthy", "breach"))
    assert decode(ModelState, encode(rich)) == rich


def test_schema_mirrors_types_and_constraints():
    out = schema(Sample, schema_id="urn:x", title="Sample")
    props = out["properties"]
    assert out["required"] == ["name", "score", "when", "metrics"]
    assert out["additionalProperties"] is False and out["description"] == "A sample payload."
    assert props["name"] == {
        "type": "string",
        "maxLength": 8,
        "pattern": "^[a-z]+$",
        "description": "lower-case name",
    }
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["inner"] == {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]}
    assert out["$defs"]["Inner"]["properties"]["n"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
    }
    assert props["mode"] == {"enum": ["a", "b"]}
    assert props["metrics"]["additionalProperties"] == {"type": "number"}


def test_errors_carry_their_fields_and_resemble_builtins():
    err = PermanentError("a.b", "bad")
    assert isinstance(err, ValueError) and str(err) == "a.b: bad"
    assert str(PermanentError("", "bad")) == "bad"
    t = TransientError("later", retry_after_s=3)
    assert t.retry_after_s == 3 and str(t) == "later"


def test_spec_refuses_mutable_defaults():
    with pytest.raises(TypeError):
        spec([])
    assert codec.format_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
