"""CLI layer: `interlock policy check [FILE]` — every problem with its path, exit 1 if any;
warnings (e.g. a metric no producer emits) are printed and do not fail the check."""

from __future__ import annotations

import sys

from interlock.adapters.policy_yaml import read_policy
from interlock.core.policy import PolicyError
from interlock.core.policy_lint import warnings


def check_command(path: str) -> int:
    try:
        policy = read_policy(path)
    except PolicyError as err:
        print(f"{path}: {len(err.problems)} problem(s)", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for warning in warnings(policy):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(f"{path}: ok — {len(policy.pipelines)} pipeline(s), {len(policy.models)} model(s)")
    return 0
