"""core/ stays pure: it imports only the standard library and interlock.core itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "functions" / "interlock" / "core"
MODULES = sorted(CORE.rglob("*.py"))


def _package_of(path: Path) -> list[str]:
    parts = ["interlock", "core", *path.relative_to(CORE).parent.parts]
    return parts


def _imports(tree: ast.AST, package: list[str]) -> list[tuple[int, str]]:
    """Every imported module, relative imports resolved (`from .. import ports` leaves core)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                out.append((node.lineno, ".".join([*base, node.module])))
            else:
                out += [(node.lineno, ".".join([*base, a.name])) for a in node.names]
    return out


def _allowed(module: str) -> bool:
    top = module.split(".", 1)[0]
    return (
        top in sys.stdlib_module_names
        or module == "interlock.core"
        or (module.startswith("interlock.core."))
    )


def test_core_has_modules_when_walked() -> None:
    assert len(MODULES) > 5


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_module_imports_only_stdlib_when_parsed(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    imports = _imports(tree, _package_of(path))
    bad = [f"line {line}: import {name}" for line, name in imports if not _allowed(name)]
    assert not bad, f"interlock/core/{path.relative_to(CORE)} imports outside the stdlib: {bad}"


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from . import codec", "interlock.core.codec"),
        ("from .codec import spec", "interlock.core.codec"),
        ("from .. import ports", "interlock.ports"),
        ("from ..adapters import pubsub", "interlock.adapters"),
        ("import yaml as y", "yaml"),
    ],
)
def test_relative_imports_resolve_when_they_climb_out_of_core(source: str, imported: str) -> None:
    assert _imports(ast.parse(source), ["interlock", "core"]) == [(1, imported)]


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("json", True),
        ("collections.abc", True),
        ("interlock.core.codec", True),
        ("interlock.ports", False),
        ("interlock.adapters.pubsub", False),
        ("interlock", False),
        ("yaml", False),
        ("google.cloud.pubsub_v1", False),
    ],
)
def test_allowed_matches_the_rule_when_given_a_module_name(module: str, allowed: bool) -> None:
    assert _allowed(module) is allowed
