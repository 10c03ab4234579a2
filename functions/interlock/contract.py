"""Contract (CLI and tooling; never uploaded with the functions): the JSON Schemas of our events.

`SCHEMAS` lists every payload we publish or normalize, one per row of `core.kinds` plus the
outcome; `render_schemas` turns them into the files under `events/schemas/` (written and checked
by `python -m interlock_dev.schemas`), and `validate` checks a payload against them with
`jsonschema`, imported on first use only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from interlock.core import codec
from interlock.core.errors import PermanentError
from interlock.core.events import DECISION_RECORDED, OUTCOME_TYPES, Outcome
from interlock.core.kinds import KINDS

SCHEMA_BASE = "https://interlock.dev/schemas/"
# Extension keyword: which CloudEvents types a schema describes. Validators ignore `x-` keywords,
# so consumers in any language can route by type without reading this module.
TYPES_KEYWORD = "x-cloudevents-types"


class SchemaEntry(NamedTuple):
    file: str
    cls: type
    ce_type: str
    title: str


def _file_of(ce_type: str) -> str:
    # dev.interlock.model.evaluated.v1 -> model.evaluated.v1.json; Google's finalize -> data.landed
    return ce_type.removeprefix("dev.interlock.") + ".json" if ce_type.startswith("dev.") else ""


SCHEMAS: list[SchemaEntry] = [
    *(
        SchemaEntry(_file_of(k.ce_type) or "data.landed.v1.json", k.payload, k.ce_type, k.title)
        for k in KINDS
    ),
    SchemaEntry(
        "outcome.v1.json",
        Outcome,
        DECISION_RECORDED,
        "outcome: what interlock decided for one event (the decisions topic)",
    ),
]


def _types_of(entry: SchemaEntry) -> list[str]:
    if entry.cls is Outcome:
        return sorted({*OUTCOME_TYPES.values(), DECISION_RECORDED})
    return [entry.ce_type]


# --- the JSON Schema of a payload type, from its one description (`codec.spec`) ---------------


def _schema_of(tp: Any, s: codec.Spec, defs: dict[str, Any]) -> dict[str, Any]:
    tp, optional = codec.unwrap_optional(tp)
    out: dict[str, Any]
    origin = typing.get_origin(tp)
    if tp is str:
        out = {"type": "string", "maxLength": s.max_length}
        if s.pattern:
            out["pattern"] = s.pattern
    elif tp is bool:
        out = {"type": "boolean"}
    elif tp is int or tp is float:
        out = {"type": "integer" if tp is int else "number"}
        if s.minimum is not None:
            out["minimum"] = s.minimum
        if s.maximum is not None:
            out["maximum"] = s.maximum
    elif tp is datetime:
        out = {"type": "string", "format": "date-time"}
    elif origin is typing.Literal:
        out = {"enum": list(typing.get_args(tp))}
    elif origin is tuple:
        item = _schema_of(typing.get_args(tp)[0], s, defs)
        out = {"type": "array", "items": item, "maxItems": codec.MAX_LIST_ITEMS}
    elif origin is Mapping or origin is dict:
        item = _schema_of(typing.get_args(tp)[1], s, defs)
        out = {
            "type": "object",
            "propertyNames": {"pattern": codec.KEY_PATTERN},
            "additionalProperties": item,
            "maxProperties": codec.MAX_MAP_ITEMS,
        }
    elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
        defs.setdefault(tp.__name__, _object_schema(tp, defs))
        out = {"$ref": f"#/$defs/{tp.__name__}"}
    else:
        raise TypeError(f"unsupported field type {tp!r}")
    if s.description:
        out["description"] = s.description
    if optional:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = codec.type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        props[f.name] = _schema_of(hints[f.name], codec.spec_of(f), defs)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc:
        out["description"] = doc[0]
    return out


def schema(cls: type, *, schema_id: str, title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a payload type."""
    defs: dict[str, Any] = {}
    body = _object_schema(cls, defs)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **body,
    }
    if defs:
        out["$defs"] = dict(sorted(defs.items()))
    return out


@cache
def schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in SCHEMAS:
        body = schema(entry.cls, schema_id=SCHEMA_BASE + entry.file, title=entry.title)
        out[entry.file] = {**body, TYPES_KEYWORD: _types_of(entry)}
    return out


def schema_for_type(ce_type: str) -> dict[str, Any]:
    """The schema of one CloudEvents type (outcome types share one schema)."""
    for entry in SCHEMAS:
        if ce_type in _types_of(entry):
            return schemas()[entry.file]
    known = ", ".join(sorted(t for e in SCHEMAS for t in _types_of(e)))
    raise PermanentError("type", f"unknown event type {ce_type[:120]!r} (known: {known})")


def render_schemas() -> dict[str, str]:
    """File name -> the pretty JSON text committed under `events/schemas/`."""
    return {
        name: json.dumps(body, indent=2, ensure_ascii=False) + "\n"
        for name, body in schemas().items()
    }


# RFC 3339 `date-time` with a mandatory offset. jsonschema only checks `format: date-time` when
# the optional rfc3339-validator package is installed (it is not a dependency), so without our own
# checker a naive timestamp would pass silently.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True  # `type` reports non-strings; format only constrains strings
    if not _RFC3339.match(value):
        return False
    try:
        codec.parse_time(value, "")
    except PermanentError:
        return False
    return True


@cache
def _validator(ce_type: str) -> Any:
    import jsonschema  # lazy: ~50 ms and only the CLI and tests validate with it

    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(_is_rfc3339)
    return jsonschema.Draft202012Validator(schema_for_type(ce_type), format_checker=checker)


def _path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_and_reason(error: Any) -> tuple[str, str]:
    """Name the field itself, like `codec.decode` does, not the object that holds it."""
    where = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = next((k for k in error.validator_value if k not in instance), None)
        if missing is not None:
            return _path([*where, missing]), "required field missing"
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        props = error.schema.get("properties", {})
        extra = sorted(str(k) for k in instance if k not in props)
        if extra and error.schema.get("additionalProperties") is False:
            return _path([*where, extra[0][:64]]), "unknown field"
    return _path(where) or "data", _reason(error)


def _reason(error: Any) -> str:
    # jsonschema's messages repeat the whole instance; a 2 MB string must not reach the logs.
    value, rule = error.instance, error.validator_value
    if error.validator == "maxLength" and isinstance(value, str):
        return f"too long: {len(value)} characters, at most {rule}"
    if error.validator == "pattern" and isinstance(value, str):
        return f"{value[:60]!r} does not match {rule}"
    if error.validator in ("maxItems", "maxProperties"):
        return f"too many items: {len(value)}, at most {rule}"
    message: str = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def validate(ce_type: str, payload: Any) -> None:
    """Check a payload (decoded JSON) against the contract; PermanentError names the field."""
    import jsonschema

    validator = _validator(ce_type)
    error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
    if error is not None:
        field, reason = _field_and_reason(error)
        raise PermanentError(field, reason)
