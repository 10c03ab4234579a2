"""CLI layer: the `interlock` command. User mistakes end in one clear line and exit 1, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence

from interlock.cli.common import CliError, policy_path
from interlock.core.errors import PermanentError


def _publishing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", help="Google Cloud project (default: INTERLOCK_PROJECT)")
    p.add_argument("--topic", help="topic name or path (default: the type's interlock topic)")
    p.add_argument(
        "--to", metavar="URL", help="post the CloudEvent straight to a function URL instead"
    )
    p.add_argument(
        "--ledger",
        help="where to read the decision: 'firestore' or 'sqlite:PATH' (default: $INTERLOCK_LEDGER"
        " or the local stack's)",
    )
    p.add_argument(
        "--no-wait", action="store_true", help="send and exit 0 without waiting for the decision"
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the decision (default 120)",
    )
    p.add_argument("--json", action="store_true", help="print the decision as JSON")


def _reading(p: argparse.ArgumentParser) -> None:
    """What a command that reads the ledger is pointed at (report, lineage, history)."""
    p.add_argument("--policy", help="policy file (default: $INTERLOCK_POLICY or the local stack's)")
    p.add_argument(
        "--ledger",
        help="'firestore' or 'sqlite:PATH' (default: $INTERLOCK_LEDGER or the local stack's)",
    )
    p.add_argument("--project", help="Google Cloud project (default: INTERLOCK_PROJECT)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds, got {text[:40]!r}"
        ) from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("expected a number of seconds between 0 and 86400")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of at least 1, got {text[:40]!r}"
        )
    return int(text)


def _airflow_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--airflow",
        choices=("3", "2"),
        default="3",
        help="Airflow 3 (REST v2, default) or Airflow 2.11 (REST v1, Composer's default image)",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="interlock",
        description="Event-driven MLOps glue for Google Cloud.",
        epilog="Requests (promote, rollback, trigger, publish) wait for the decision and exit 0 "
        "when it applied something, 3 when nothing was applied, 4 when no decision came in time; "
        "1 is a mistake in the command.",
    )
    root.add_argument("--version", action="version", version=f"interlock {_version()}")
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
    p.add_argument(
        "--policy",
        help="policy whose max_event_age to check against (default: $INTERLOCK_POLICY or the "
        "local stack's)",
    )
    p.add_argument(
        "--allow-expired", action="store_true", help="publish even past the policy's max_event_age"
    )
    _publishing(p)

    p = sub.add_parser("promote", help="ask to promote a model version (skips the gate)")
    p.add_argument("model", help="model name, as in the policy (e.g. churn)")
    p.add_argument("version", help="Vertex AI model version: 7 or v7")
    p.add_argument("--force", action="store_true", help="also over a newer champion")
    p_roll = sub.add_parser("rollback", help="ask to roll a model back to its previous version")
    p_roll.add_argument("model", help="model name, as in the policy (e.g. churn)")
    p_trig = sub.add_parser("trigger", help="ask to run a pipeline on one landed object")
    p_trig.add_argument("pipeline", help="pipeline name, as in the policy (e.g. churn-training)")
    p_trig.add_argument(
        "object",
        metavar="gs://BUCKET/NAME#GENERATION",
        help="the object, with its generation (gcloud storage objects describe shows it)",
    )
    p_close = sub.add_parser("close", help="close a batched pipeline's open window(s) now")
    p_close.add_argument("pipeline", help="a batched pipeline, as in the policy")
    p_close.add_argument(
        "partition", nargs="?", help="the window's partition (default: every open one)"
    )
    for p in (sub.choices["promote"], p_roll, p_trig, p_close):
        p.add_argument("--reason", help="why (recorded in the decision trail)")
        p.add_argument("--by", help="who asks (default: $INTERLOCK_USER or $USER)")
        _publishing(p)

    from interlock.cli import operator

    operator.add_parsers(sub, _publishing)
    from interlock.cli import replay

    replay.add_parser(sub, _publishing)

    p = sub.add_parser("report", help="a self-contained HTML timeline of a model's decisions")
    p.add_argument("model", help="model name, as in the policy (e.g. churn)")
    p.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    _reading(p)
    p.add_argument(
        "--limit", type=_positive, default=500, help="newest decisions drawn (default 500)"
    )

    p = sub.add_parser(
        "lineage", help="a version's chain: input bytes → run → evaluation → revision → traffic"
    )
    p.add_argument("model", help="model name, as in the policy (e.g. churn)")
    p.add_argument("version", nargs="?", help="Vertex AI model version: 2 or v2")
    p.add_argument("--serving", action="store_true", help="the version serving most traffic now")
    p.add_argument(
        "--offline",
        action="store_true",
        help="read the ledger only: ask neither the registry, Airflow nor the object store",
    )
    p_hist = sub.add_parser("history", help="which versions served which share of traffic when")
    p_hist.add_argument("model", help="model name, as in the policy (e.g. churn)")
    p_hist.add_argument("--at", metavar="TIME", help="RFC 3339, e.g. 2026-12-02T17:05:00Z")
    p_hist.add_argument(
        "--between", nargs=2, metavar=("START", "END"), help="every split in force in between"
    )
    for p in (sub.choices["lineage"], p_hist):
        _reading(p)
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("explain", help="what interlock would decide for an event, and why")
    p.add_argument("event", help="event JSON: structured CloudEvent, binary delivery or push body")
    p.add_argument(
        "--policy",
        help=f"policy file (default: $INTERLOCK_POLICY, the local stack's, or {policy_path(None)})",
    )
    p.add_argument(
        "--state",
        help='model state JSON file: {"champion": {"version": "7", "revision": '
        '"churn-v7"}, …} or {MODEL: {…}} (default: the model\'s state in --ledger or the '
        "local stack's ledger; else nothing serving)",
    )
    p.add_argument("--now", help="decide as of this RFC 3339 time (default: now)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--ledger",
        help="read-only: the model's state from it, the batch window a landing would join and "
        "how the runs it triggered ended (firestore | sqlite:PATH; default: the local stack's)",
    )
    p.add_argument("--project", help="Google Cloud project of the Firestore ledger")

    p = sub.add_parser("policy", help="policy tools")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    check = psub.add_parser("check", help="validate a policy file; lists every problem")
    check.add_argument(
        "file", nargs="?", help=f"policy file (default: $INTERLOCK_POLICY or {policy_path(None)})"
    )

    p = sub.add_parser("dev", help="the local stack: up, down, env, land, events, reset")
    dsub = p.add_subparsers(dest="dev_command", required=True, metavar="SUBCOMMAND")
    for name, text in (("up", "start everything on 127.0.0.1 (foreground; Ctrl-C stops it)"),
                       ("down", "stop a stack started by `dev up`"),
                       ("env", "print the export lines that point the CLI at the running stack"),
                       ("reset", "clear a stopped stack's local state (ledger, models, bucket)"),
                       ("land", "copy a file into the local bucket and send the GCS notification"),
                       ("events", "print outcome events and dead letters published so far")):  # fmt: skip
        d = dsub.add_parser(name, help=text)
        d.add_argument(
            "--root",
            default=None,
            help="state and logs (default $INTERLOCK_DEV_ROOT or .interlock/dev)",
        )
    dsub.choices["up"].add_argument("--no-airflow", action="store_true", help="skip Airflow")
    _airflow_choice(dsub.choices["up"])
    dsub.choices["up"].add_argument(
        "--no-pubsub", action="store_true", help="post events straight to functions"
    )
    dsub.choices["up"].add_argument(
        "--policy",
        help="policy file for the functions (default: $INTERLOCK_POLICY or interlock.yaml)",
    )
    dsub.choices["up"].add_argument(
        "--dags", help="Airflow DAGs folder (default: the repo's dags/)"
    )
    dsub.choices["land"].add_argument("file", help="a CSV (make one: see README, 'Local stack')")
    dsub.choices["land"].add_argument("--bucket", default="interlock-landing")
    dsub.choices["land"].add_argument("--name", help="object name (default churn/incoming/FILE)")

    p = sub.add_parser("demo", help="the whole loop on this machine, with a timeline")
    p.add_argument(
        "--root", default=".interlock/demo", help="state and logs (default .interlock/demo)"
    )
    _airflow_choice(p)

    p = sub.add_parser("status", help="what serves, what is pending, the recent decisions")
    p.add_argument("model", nargs="?", help="only this model (default: every model)")
    p.add_argument(
        "--policy", help=f"policy file (default: $INTERLOCK_POLICY or {policy_path(None)})"
    )
    p.add_argument(
        "--ledger",
        help="'firestore' or 'sqlite:PATH' (default: $INTERLOCK_LEDGER or the local stack's)",
    )
    p.add_argument("--project", help="Google Cloud project (default: INTERLOCK_PROJECT)")
    p.add_argument("--limit", type=_positive, default=20, help="decisions shown (default 20)")
    p.add_argument("--json", action="store_true", help="per-model status as JSON")
    p.add_argument(
        "--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
        help="refresh the per-model table in place (every 2 s unless given; Ctrl-C stops)",
    )  # fmt: skip
    return root


def run(args: argparse.Namespace) -> int:
    if args.command == "publish":
        from interlock.cli.publish import publish_command

        return publish_command(args)
    if args.command in ("promote", "rollback", "trigger", "close"):
        from interlock.cli.publish import request_command

        return request_command(args.command, args)
    if args.command in ("approve", "pause", "resume"):
        from interlock.cli.operator import operator_command

        return operator_command(args)
    if args.command == "replay":
        from interlock.cli.replay import replay_command

        return replay_command(args)
    if args.command == "report":
        from interlock.cli.report_html import report_command

        return report_command(args)
    if args.command == "lineage":
        from interlock.cli.lineage import lineage_command

        return lineage_command(args)
    if args.command == "history":
        from interlock.cli.history import history_command

        return history_command(args)
    if args.command == "explain":
        from interlock.cli.explain import explain_command

        return explain_command(args)
    if args.command == "policy":
        from interlock.cli.policy import check_command

        return check_command(policy_path(args.file))
    if args.command == "dev":
        from interlock_dev import commands as dev

        command = {
            "up": dev.up_command,
            "down": dev.down_command,
            "env": dev.env_command,
            "reset": dev.reset_command,
            "land": dev.land_command,
            "events": dev.events_command,
        }
        return command[args.dev_command](args)
    if args.command == "demo":
        from interlock_dev.demo import run_demo

        try:
            return run_demo(args.root, args.airflow)
        except OSError as err:  # an unwritable --root, a full disk: the user's to fix
            fail_with = f"demo: {err.strerror or err}: {err.filename or args.root}"
            raise CliError(fail_with) from None
    from interlock.cli.status import status_command

    return status_command(args)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("interlock")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    from interlock import log

    args = parser().parse_args(argv)
    # Adapters' log lines go to stderr: stdout carries only the answer (`--json` parses whole).
    previous = log.use(sys.stderr)
    try:
        return _main(args)
    finally:
        log.use(previous)


def _main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except CliError as err:
        _error(str(err), args)
        return 1
    except PermanentError as err:  # a user mistake the core caught (a bad --now, …)
        _error(str(err), args)
        return 1
    except BrokenPipeError:
        # `interlock status | head`: the reader left; say nothing more, exit quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("interlock: interrupted", file=sys.stderr)
        return 130


def _error(message: str, args: argparse.Namespace) -> None:
    if getattr(args, "json", False):  # --json callers parse stdout: the error is JSON too
        print(json.dumps({"error": message}))
    print(f"interlock: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
