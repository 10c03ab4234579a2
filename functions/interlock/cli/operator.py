"""CLI layer: `interlock approve|pause|resume` — operator requests, published like promote/rollback
(request id, caller, reason), decided by `on_request`, audited in the ledger."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from interlock.cli.common import caller, fail, load_policy_or_fail, policy_path
from interlock.cli.publish import SHORT_TYPES, request_id, send, settle, validated, version_of
from interlock.cli.target import Target, resolve

COMMANDS = ("approve", "pause", "resume")


def add_parsers(sub: Any, publishing: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "approve",
        help="approve a canary waiting at an `approve` step (it takes its next step)",
        description="Approve the candidate VERSION of MODEL, waiting at a canary `approve` step.",
    )
    p.add_argument("model", help="the model, as the policy names it")
    p.add_argument("version", help="the candidate version waiting for approval (7 or v7)")
    for name, text in (
        ("pause", "hold a model's automatic promotions and advances (rollbacks: the policy's)"),
        ("resume", "end a pause; a promotion it held is re-decided at once"),
    ):
        q = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        q.add_argument("model", nargs="?", help="the model (or --all)")
        q.add_argument("--all", action="store_true", help="every model in the policy")
        q.add_argument(
            "--policy",
            help="policy file, for --all (default: $INTERLOCK_POLICY, the local stack's, or "
            f"{policy_path(None)})",
        )
    for name in COMMANDS:
        q = sub.choices[name]
        q.add_argument("--reason", help="why (recorded in the decision trail)")
        q.add_argument("--by", help="who asks (default: $INTERLOCK_USER or $USER)")
        publishing(q)


def _models(args: Any, target: Target) -> list[str]:
    if args.command == "approve":
        return [args.model]
    if args.all == bool(args.model):
        fail(f"{args.command}: name one MODEL or pass --all")
    if args.model:
        return [args.model]
    # --all means the models of the policy the functions decide with: a local stack's own.
    path = args.policy or os.environ.get("INTERLOCK_POLICY") or (target.local or {}).get("policy")
    return [m.name for m in load_policy_or_fail(path).models]


def operator_command(args: Any) -> int:
    ce_type = SHORT_TYPES[f"model.{args.command}.requested"]
    target = resolve(args.project, args.ledger)
    code = 0
    for model in _models(args, target):
        payload: dict[str, Any] = {
            "request_id": request_id(),
            "requested_by": caller(args.by),
            "model": model,
        }
        if args.reason:
            payload["reason"] = args.reason
        if args.command == "approve":
            payload["version"] = version_of(args.version)
        sent = send(ce_type, validated(ce_type, payload), to=args.to, target=target,
                    topic=args.topic, echo=not args.json)  # fmt: skip
        if not args.json:
            print(
                f"request id {payload['request_id']} (re-publishing it is recognised, never applied twice)"
            )
        extra = {"type": ce_type, "request_id": payload["request_id"]}
        # Each model's decision; the worst exit wins (nothing applied beats applied).
        code = max(code, settle(args, sent, target, extra))
    return code
