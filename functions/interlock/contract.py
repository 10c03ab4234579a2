"""Contract layer: the language-neutral event contract in `events/`, generated from core types.

`SCHEMAS` lists every payload we publish or normalize; `render_schemas` turns them into the JSON
Schema files under `events/schemas/`, and `validate` checks a payload against them with
`jsonschema`. jsonschema is imported on first use only: the CLI and tests need it, a function's
cold path must not pay for it.

    python -m interlock.contract --write events/schemas [--readme events/README.md]
    python -m interlock.contract --check events/schemas [--readme events/README.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from interlock.core import codec
from interlock.core.errors import PermanentError
from interlock.core.events import (
    DECISION_RECORDED,
    EVENT_TYPES,
    GCS_FINALIZED,
    OUTCOME_TYPES,
    DataLanded,
    Outcome,
)

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
    # dev.interlock.model.evaluated.v1 -> model.evaluated.v1.json
    return ce_type.removeprefix("dev.interlock.") + ".json"


_TITLES = {
    "dev.interlock.model.evaluated.v1": "model.evaluated: a pipeline evaluated a model version",
    "dev.interlock.model.observed.v1": "model.observed: live metrics of a serving revision",
    "dev.interlock.pipeline.trigger.requested.v1": "pipeline.trigger.requested: run a pipeline",
    "dev.interlock.model.promote.requested.v1": "model.promote.requested: promote a version",
    "dev.interlock.model.rollback.requested.v1": "model.rollback.requested: roll a model back",
}

SCHEMAS: list[SchemaEntry] = [
    *(SchemaEntry(_file_of(t), cls, t, _TITLES[t]) for t, cls in EVENT_TYPES.items()),
    SchemaEntry(
        "data.landed.v1.json",
        DataLanded,
        GCS_FINALIZED,
        "data.landed: a Cloud Storage object was finalized (normalized from every inbound shape)",
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


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in SCHEMAS:
        body = codec.schema(entry.cls, schema_id=SCHEMA_BASE + entry.file, title=entry.title)
        out[entry.file] = {**body, TYPES_KEYWORD: _types_of(entry)}
    return out


def schema_for_type(ce_type: str) -> dict[str, Any]:
    """The schema of one CloudEvents type (outcome types share one schema)."""
    for entry in SCHEMAS:
        if ce_type in _types_of(entry):
            return _schemas()[entry.file]
    known = ", ".join(sorted(t for e in SCHEMAS for t in _types_of(e)))
    raise PermanentError("type", f"unknown event type {ce_type[:120]!r} (known: {known})")


def render_schemas() -> dict[str, str]:
    """File name -> the pretty JSON text committed under `events/schemas/`."""
    return {
        name: json.dumps(body, indent=2, ensure_ascii=False) + "\n"
        for name, body in _schemas().items()
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


# --- catalogue tables ----------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _describe_type(s: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[str, list[str]]:
    """A schema node as (type, constraints) for a table row."""
    if "anyOf" in s:
        inner = [x for x in s["anyOf"] if x != {"type": "null"}]
        inner_kind, inner_rules = _describe_type(inner[0], defs)
        return f"{inner_kind} or null", inner_rules
    if "$ref" in s:
        return s["$ref"].rsplit("/", 1)[-1], []
    if "enum" in s:
        return "string", ["one of " + ", ".join(f"`{v}`" for v in s["enum"])]
    kind = s.get("type", "any")
    rules: list[str] = []
    if s.get("format") == "date-time":
        return "string (date-time)", ["RFC 3339 with a time zone offset or `Z`"]
    if kind == "string":
        if "pattern" in s:
            rules.append(f"pattern `{_md(s['pattern'])}`")
        if "maxLength" in s:
            rules.append(f"≤ {s['maxLength']} chars")
    elif kind in ("integer", "number"):
        if "minimum" in s:
            rules.append(f"≥ {s['minimum']:g}")
        if "maximum" in s:
            rules.append(f"≤ {s['maximum']:g}")
    elif kind == "array":
        item, item_rules = _describe_type(s["items"], defs)
        kind = f"array of {item}"
        rules.append(f"≤ {s['maxItems']} items")
        rules.extend(f"each {r}" for r in item_rules)
    elif kind == "object" and "additionalProperties" in s:
        item, item_rules = _describe_type(s["additionalProperties"], defs)
        kind = f"object (name → {item})"
        rules.append(f"≤ {s['maxProperties']} entries")
        rules.append(f"names match `{_md(s['propertyNames']['pattern'])}`")
        rules.extend(f"each value {r}" for r in item_rules)
    return kind, rules


# Meanings for fields whose core spec() has no description yet. The schema's own description wins;
# each entry here belongs in core/events.py as spec(description=...), after which it is dead.
CATALOGUE_NOTES: dict[tuple[str, str], str] = {
    ("data.landed.v1.json", "bucket"): "Cloud Storage bucket; must be configured in the policy",
    ("data.landed.v1.json", "size"): "object size in bytes (absent for payloadFormat NONE)",
    ("data.landed.v1.json", "md5_hash"): "base64 MD5 of the content, as GCS reports it",
    ("data.landed.v1.json", "content_type"): "MIME type of the object",
    ("data.landed.v1.json", "time_created"): "when GCS created this generation",
    ("model.evaluated.v1.json", "sample_count"): "rows in the evaluation set (gate: min_samples)",
    ("model.evaluated.v1.json", "evaluated_at"): "when the evaluation finished (max age applies)",
    ("model.evaluated.v1.json", "artifact_uri"): "where the model artifact was written",
    ("model.observed.v1.json", "model"): "model name in the policy",
    ("model.observed.v1.json", "version"): "model version the revision serves",
    ("model.observed.v1.json", "window_start"): "start of the observation window",
    ("model.observed.v1.json", "window_end"): "end of the window; must advance per revision",
    ("model.observed.v1.json", "sample_count"): "requests scored in the window (min_samples)",
    ("model.observed.v1.json", "metrics"): "metric name -> value over the window",
    **{
        (f"{kind}.v1.json", name): text
        for kind in (
            "pipeline.trigger.requested",
            "model.promote.requested",
            "model.rollback.requested",
        )
        for name, text in (
            ("request_id", "caller-chosen id; a re-publish with it is recognised"),
            ("requested_by", "caller identity, when known (recorded)"),
            ("reason", "free text, recorded with the decision"),
            ("pipeline", "pipeline name in the policy"),
            ("model", "model name in the policy"),
            ("version", "Vertex AI Model Registry version id"),
        )
    },
    ("outcome.v1.json", "decision_id"): "id of the decision in the ledger",
    ("outcome.v1.json", "kind"): "what was decided; selects the CloudEvents type",
    ("outcome.v1.json", "event_id"): "id of the event decided on",
    ("outcome.v1.json", "event_type"): "CloudEvents type of the event decided on",
    ("outcome.v1.json", "reasons"): "every reason, e.g. each failing gate rule",
    ("outcome.v1.json", "effects"): "what was changed (traffic, alias, DAG run)",
    ("outcome.v1.json", "decided_at"): "when the decision was made",
    ("outcome.v1.json", "manual"): "the event was a manual request",
    ("outcome.v1.json", "request_id"): "the manual request's id",
    ("outcome.v1.json", "requested_by"): "the manual request's caller",
}


def field_table(file: str) -> str:
    """The Markdown table of one schema's fields, derived from the schema itself."""
    body = _schemas()[file]
    required = set(body.get("required", ()))
    lines = [
        "| field | type | required | constraints | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, node in body["properties"].items():
        kind, rules = _describe_type(node, body.get("$defs", {}))
        meaning = node.get("description", "")
        if not meaning and "anyOf" in node:
            meaning = next((x.get("description", "") for x in node["anyOf"]), "")
        meaning = meaning or CATALOGUE_NOTES.get((file, name), "")
        lines.append(
            f"| `{name}` | {kind} | {'yes' if name in required else 'no'} "
            f"| {'; '.join(rules) or '—'} | {_md(meaning) or '—'} |"
        )
    return "\n".join(lines) + "\n"


_BLOCK = re.compile(r"(<!-- fields: (?P<file>[\w.]+) -->\n)(.*?)(<!-- /fields -->)", re.DOTALL)


def sync_readme(text: str) -> str:
    """Rewrite every `<!-- fields: X.json -->` … `<!-- /fields -->` block from the schemas."""
    return _BLOCK.sub(lambda m: m.group(1) + field_table(m.group("file")) + m.group(4), text)


# --- CLI -----------------------------------------------------------------------------------------


def drifted(directory: Path) -> list[str]:
    """Files under `directory` that differ from `render_schemas()`, are missing, or are extra."""
    expected = render_schemas()
    out = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    if directory.is_dir():
        out += sorted(p.name for p in directory.glob("*.json") if p.name not in expected)
    return sorted(out)


def write(directory: Path) -> list[str]:
    """Write every schema, delete stale ones; returns the names that changed."""
    changed = drifted(directory)
    directory.mkdir(parents=True, exist_ok=True)
    expected = render_schemas()
    for name in changed:
        path = directory / name
        if name in expected:
            path.write_text(expected[name])
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interlock.contract", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="DIR", type=Path, help="write the schemas into DIR")
    mode.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if DIR has drifted")
    parser.add_argument("--readme", type=Path, help="also sync the field tables of this README")
    args = parser.parse_args(argv)
    readme: Path | None = args.readme
    if args.write is not None:
        for name in write(args.write):
            print(f"wrote {args.write / name}")
        if readme is not None:
            text = readme.read_text()
            if sync_readme(text) != text:
                readme.write_text(sync_readme(text))
                print(f"wrote {readme}")
        return 0
    stale = [str(args.check / name) for name in drifted(args.check)]
    if readme is not None and sync_readme(readme.read_text()) != readme.read_text():
        stale.append(str(readme))
    for name in stale:
        print(f"drifted: {name}", file=sys.stderr)
    if stale:
        print("run `make schemas` to regenerate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
