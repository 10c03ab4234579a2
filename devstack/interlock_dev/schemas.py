"""Dev tooling: write and check the event contract in `events/` (schemas and catalogue tables).

    python -m interlock_dev.schemas --write events/schemas [--readme events/README.md]
    python -m interlock_dev.schemas --check events/schemas [--readme events/README.md]

The schemas come from the core types (`interlock.contract`); the catalogue's field tables are
derived from the schemas, so each field's meaning is written once, in `core/events.py`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interlock import contract


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


def field_table(file: str) -> str:
    """The Markdown table of one schema's fields, derived from the schema itself."""
    body = contract.schemas()[file]
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
        lines.append(
            f"| `{name}` | {kind} | {'yes' if name in required else 'no'} "
            f"| {'; '.join(rules) or '—'} | {_md(meaning) or '—'} |"
        )
    return "\n".join(lines) + "\n"


_BLOCK = re.compile(r"(<!-- fields: (?P<file>[\w.]+) -->\n)(.*?)(<!-- /fields -->)", re.DOTALL)


def sync_readme(text: str) -> str:
    """Rewrite every `<!-- fields: X.json -->` … `<!-- /fields -->` block from the schemas."""
    return _BLOCK.sub(lambda m: m.group(1) + field_table(m.group("file")) + m.group(4), text)


def drifted(directory: Path) -> list[str]:
    """Files under `directory` that differ from `render_schemas()`, are missing, or are extra."""
    expected = contract.render_schemas()
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
    expected = contract.render_schemas()
    for name in changed:
        path = directory / name
        if name in expected:
            path.write_text(expected[name])
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interlock_dev.schemas", description=__doc__)
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
