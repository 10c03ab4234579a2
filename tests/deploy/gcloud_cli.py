"""Tests' view of the installed Google Cloud CLI: its static command tree and its help pages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@cache
def cli_tree() -> dict | None:
    """The installed CLI's static command tree (shipped for shell completion), if present."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    tree = Path(os.path.realpath(gcloud)).parents[1] / "data" / "cli" / "gcloud_completions.py"
    if not tree.is_file():
        return None
    namespace: dict = {}
    exec(compile(tree.read_text(), str(tree), "exec"), namespace)
    return namespace["STATIC_COMPLETION_CLI_TREE"]


def cli_help(path: tuple[str, ...], config: str) -> tuple[int, str]:
    """`gcloud <path> --help` as plain text, with a throwaway config (no account, no prompts)."""
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_CONFIG": config}
    proc = subprocess.run(
        ["gcloud", *path, "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    return proc.returncode, ANSI.sub("", proc.stdout + proc.stderr)


def flag_known(flag: str, help_text: str) -> bool:
    """Whether a help text lists `flag`, also as the `--[no-]flag` form of a boolean."""
    name = flag[2:]
    words = set(re.findall(r"--(?:\[no-\])?[a-z0-9][a-z0-9-]*", help_text))
    if f"--{name}" in words or f"--[no-]{name}" in words:
        return True
    return name.startswith("no-") and f"--[no-]{name[3:]}" in words
