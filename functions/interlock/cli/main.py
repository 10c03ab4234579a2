"""CLI layer: the `interlock` command. User mistakes end in one clear line and exit 1, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from interlock.cli.common import CliError, policy_path


def _publishing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", help="Google Cloud project (default: INTERLOCK_PROJECT)")
    p.add_argument("--topic", help="topic name or path (default: the type's interlock topic)")
    p.add_argument(
        "--to", metavar="URL", help="post the CloudEvent straight to a function URL instead"
    )


def _airflow_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--airflow",
        choices=("3", "2"),
        default="3",
        help="Airflow 3 (REST v2, default) or Airflow 2.11 (REST v1, Composer's default image)",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="interlock", description="Event-driven MLOps glue for Google Cloud."
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("publish", help="validate and publish one of our events")
    p.add_argument("type", nargs="?", metavar="TYPE", help="e.g. model.evaluated, model.observed")
    p.add_argument(
        "--field",
        action="append",
        metavar="KEY=VALUE",
        help="payload field (repeatable; metrics.auc=0.9)",
    )
    p.add_argument("--file", help="payload or structured CloudEvent JSON ('-' for stdin)")
    _publishing(p)

    p = sub.add_parser("promote", help="ask to promote a model version (skips the gate)")
    p.add_argument("model")
    p.add_argument("version")
    p.add_argument("--force", action="store_true", help="also over a newer champion")
    for name in ("rollback", "trigger"):
        sub.add_parser(name)
    p_roll = sub.choices["rollback"]
    p_roll.help = "ask to roll a model back to its previous version"  # type: ignore[attr-defined]
    p_roll.add_argument("model")
    p_trig = sub.choices["trigger"]
    p_trig.add_argument("pipeline")
    p_trig.add_argument("object", metavar="gs://BUCKET/NAME#GENERATION")
    p_close = sub.add_parser("close", help="close a batched pipeline's open window(s) now")
    p_close.add_argument("pipeline")
    p_close.add_argument(
        "partition", nargs="?", help="the window's partition (default: every open one)"
    )
    for p in (sub.choices["promote"], p_roll, p_trig, p_close):
        p.add_argument("--reason", help="why (recorded in the decision trail)")
        p.add_argument("--by", help="who asks (default: $INTERLOCK_USER or $USER)")
        _publishing(p)

    p = sub.add_parser("explain", help="what interlock would decide for an event, and why")
    p.add_argument("event", help="event JSON: structured CloudEvent, binary delivery or push body")
    p.add_argument(
        "--policy", help=f"policy file (default: $INTERLOCK_POLICY or {policy_path(None)})"
    )
    p.add_argument("--state", help="model state JSON (as `status --json` or the ledger stores it)")
    p.add_argument("--now", help="decide as of this RFC 3339 time (default: now)")
    p.add_argument(
        "--ledger", help="read-only: show the batch window a landing would join ('sqlite:PATH')"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("policy", help="policy tools")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    check = psub.add_parser("check", help="validate a policy file; lists every problem")
    check.add_argument("file")

    p = sub.add_parser("dev", help="the local stack: up, down, land, events")
    dsub = p.add_subparsers(dest="dev_command", required=True, metavar="SUBCOMMAND")
    for name, text in (("up", "start everything on 127.0.0.1 (foreground; Ctrl-C stops it)"),
                       ("down", "stop a stack started by `dev up`"),
                       ("land", "copy a file into the local bucket and send the GCS notification"),
                       ("events", "print outcome events and dead letters published so far")):  # fmt: skip
        d = dsub.add_parser(name, help=text)
        d.add_argument(
            "--root", default=".interlock/dev", help="state and logs (default .interlock/dev)"
        )
    dsub.choices["up"].add_argument("--no-airflow", action="store_true", help="skip Airflow")
    _airflow_choice(dsub.choices["up"])
    dsub.choices["up"].add_argument(
        "--no-pubsub", action="store_true", help="post events straight to functions"
    )
    dsub.choices["land"].add_argument("file")
    dsub.choices["land"].add_argument("--bucket", default="interlock-landing")
    dsub.choices["land"].add_argument("--name", help="object name (default churn/incoming/FILE)")

    p = sub.add_parser("demo", help="the whole loop on this machine, with a timeline")
    p.add_argument(
        "--root", default=".interlock/demo", help="state and logs (default .interlock/demo)"
    )
    _airflow_choice(p)

    p = sub.add_parser("status", help="what serves, what is pending, the recent decisions")
    p.add_argument("model", nargs="?")
    p.add_argument("--policy")
    p.add_argument("--ledger", help="'firestore' or 'sqlite:PATH' (default: $INTERLOCK_LEDGER)")
    p.add_argument("--project")
    p.add_argument("--limit", type=int, default=20)
    return root


def run(args: argparse.Namespace) -> int:
    if args.command == "publish":
        from interlock.cli.publish import publish_command

        return publish_command(args)
    if args.command in ("promote", "rollback", "trigger", "close"):
        from interlock.cli.publish import request_command

        return request_command(args.command, args)
    if args.command == "explain":
        from interlock.cli.explain import explain_command

        return explain_command(args)
    if args.command == "policy":
        from interlock.cli.policy import check_command

        return check_command(args.file)
    if args.command == "dev":
        from interlock_dev import commands as dev

        command = {
            "up": dev.up_command,
            "down": dev.down_command,
            "land": dev.land_command,
            "events": dev.events_command,
        }
        return command[args.dev_command](args)
    if args.command == "demo":
        from interlock_dev.demo import run_demo

        return run_demo(args.root, args.airflow)
    from interlock.cli.status import status_command

    return status_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except CliError as err:
        print(f"interlock: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interlock: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
