"""CLI layer: `interlock policy check FILE` — every problem with its path, exit 1 if any."""

from __future__ import annotations

import sys

from interlock.adapters.policy_yaml import read_policy
from interlock.core.policy import PolicyError


def check_command(path: str) -> int:
    try:
        policy = read_policy(path)
    except PolicyError as err:
        print(f"{path}: {len(err.problems)} problem(s)", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{path}: ok — {len(policy.pipelines)} pipeline(s), {len(policy.models)} model(s)")
    return 0
