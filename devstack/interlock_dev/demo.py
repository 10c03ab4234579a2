"""Local stack: the demo scenario — data lands, a DAG trains v1, interlock promotes it, better data
trains v2, it canaries to 100 %, its live metrics degrade, interlock rolls back to v1; then the
CLI answers what serves and what it was trained on, and what served while v2 did (`demo_lineage`).

Nobody publishes a live window: a traffic generator sends real prediction requests throughout,
the stand-in counts what each revision served (and answers Cloud Monitoring's timeSeries.list),
and the observer (a chore of every tick) turns each closed window into a `model.observed` the
guard decides. Windows are 2 s long locally (`observe.window`), ticks 2 s apart; the degradation
is 20 % errors injected into v2's serving. Every step waits for its evidence (a DAG run, a
recorded decision, predictions served by the expected version) and the run ends with a summary
table; exit 0 only if every step happened.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from interlock.core.events import Outcome
from interlock_dev import demo_lineage
from interlock_dev.deliver import land
from interlock_dev.stack import REPO, SERVICE, LocalStack, StackInfo
from interlock_dev.traffic import Traffic

STEP_TIMEOUT_S = 150
TICK_PERIOD_S = 2.0
# interlock.yaml, observed in windows of seconds (Cloud Run's are minutes, 3 min late).
OBSERVE = {"source": "cloud_run", "window": "2s", "delay": "1s"}
MIN_SAMPLES = 5  # per window: the canary's 10 % of the generator's requests is a handful


def demo_policy(root: Path) -> Path:
    """interlock.yaml with the demo's small windows, written under `root`."""
    doc = yaml.safe_load((REPO / "interlock.yaml").read_text())
    for model in doc["models"]:
        model["observe"] = dict(OBSERVE)
        model["canary"]["min_samples"] = MIN_SAMPLES
        model["guard"]["min_samples"] = MIN_SAMPLES
    path = root / "policy" / "interlock.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def demo_stack(
    root: Path, progress: Callable[[str], None], airflow_version: str = "3"
) -> LocalStack:
    """The local stack the demo runs on: the demo policy, a tick every 2 s."""
    return LocalStack(
        root, policy=demo_policy(root), progress=progress, airflow_version=airflow_version,
        tick_period_s=TICK_PERIOD_S,
    )  # fmt: skip


class StepFailed(Exception):
    pass


@dataclass
class Row:
    event: str
    decision: str
    effect: str
    latency_s: float


class Timeline:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.rows: list[Row] = []

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)


class Demo:
    def __init__(self, stack: LocalStack, info: StackInfo, timeline: Timeline) -> None:
        self.stack = stack
        self.info = info
        self.t = timeline
        self.root = Path(info.root)
        self.seen: set[str] = set()
        self.traffic: Traffic | None = None
        self.v2_served_at: datetime | None = None  # a time v2 served 100 % (history --at)

    # -- evidence --------------------------------------------------------------------------
    def outcomes(self) -> list[Outcome]:
        from interlock.adapters.ledger_sqlite import SqliteLedger

        return SqliteLedger(self.info.ledger.removeprefix("sqlite:")).outcomes(limit=200)

    def wait_outcome(self, what: str, match: Callable[[Outcome], bool], since: datetime) -> Outcome:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            for outcome in reversed(self.outcomes()):
                if (
                    outcome.decision_id not in self.seen
                    and outcome.decided_at >= since
                    and match(outcome)
                ):
                    self.seen.add(outcome.decision_id)
                    return outcome
            time.sleep(0.3)
        raise StepFailed(f"no {what} decision within {STEP_TIMEOUT_S}s")

    def wait_dag_run(self, since_runs: int) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        airflow = self.stack.airflow
        while time.monotonic() < deadline:
            runs = airflow.list_runs("train_on_arrival")
            if len(runs) > since_runs:
                run = runs[-1]
                if run.get("state") == "success":
                    return dict(run)
                if run.get("state") == "failed":
                    raise StepFailed(
                        f"DAG run {run.get('dag_run_id')} failed: see {airflow.home}/logs"
                    )
            time.sleep(1)
        raise StepFailed(f"DAG train_on_arrival did not finish within {STEP_TIMEOUT_S}s")

    def predictions(self, n: int = 40) -> Counter[str]:
        served: Counter[str] = Counter()
        url = f"{self.info.service_url()}/predict"
        body = json.dumps({"instances": [[0.0] * 30]}).encode()
        for i in range(n):
            request = urllib.request.Request(  # noqa: S310 (loopback)
                url, data=body, method="POST",
                headers={"Content-Type": "application/json", "X-Interlock-Route-Key": f"demo-{i}"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                served[f"v{json.loads(response.read())['model_version']}"] += 1
        return served

    def expect_served(self, expected: dict[str, int]) -> None:
        served = self.predictions()
        text = ", ".join(f"{v}: {c}" for v, c in sorted(served.items()))
        ok = set(served) == set(expected) and all(
            abs(served[v] * 100 / 40 - p) <= 25 for v, p in expected.items()
        )
        self.t.say(f"  predictions (40 requests) served by {text}")
        if not ok:
            raise StepFailed(f"predictions should come from {expected}, came from {dict(served)}")

    # -- actions ---------------------------------------------------------------------------
    def make_data(self, name: str, *args: str) -> Path:
        out = self.root / "data" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        script = REPO / "dags" / "interlock_dag" / "make_demo_data.py"
        subprocess.run(
            [sys.executable, str(script), str(out), *args], check=True, capture_output=True
        )
        return out

    def land_and_train(self, csv: Path, label: str) -> Outcome:
        runs = len(self.stack.airflow.list_runs("train_on_arrival"))
        since = datetime.now(UTC) - timedelta(seconds=1)
        stored = land(self.info, csv, "interlock-landing", f"churn/incoming/{csv.name}")
        self.t.say(f"data landed: {stored.uri}")
        triggered = self.wait_outcome("pipeline triggered", lambda o: o.kind == "triggered", since)
        self.row("GCS object finalized", triggered, since)
        run = self.wait_dag_run(runs)
        self.t.say(f"  DAG train_on_arrival run {run['dag_run_id']} succeeded")
        evaluated = self.wait_outcome(
            "evaluation", lambda o: o.event_type.endswith("model.evaluated.v1"), since
        )
        self.row(f"model.evaluated ({label})", evaluated, since)
        return evaluated

    def serving_fault(self, revision: str, error_rate: float) -> None:
        """What the revision's container does to its requests (the stand-in's serving fault)."""
        body = json.dumps({"revision": revision, "error_rate": error_rate}).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.info.standin}/_faults", data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def land_batch_and_train(self) -> None:
        """A partitioned export: three files, then `_SUCCESS` → one run that trains on all three."""
        runs = len(self.stack.airflow.list_runs("train_on_arrival"))
        since = datetime.now(UTC) - timedelta(seconds=1)
        part = f"churn/exports/dt={datetime.now(UTC):%Y-%m-%d}"
        # One generated export split in three files (one generator start, not three).
        header, *rows = (
            self.make_data("export.csv", "--rows", "360", "--seed", "4").read_text().splitlines()
        )
        for i in range(3):
            csv = self.root / "data" / f"part-{i}.csv"
            csv.write_text("\n".join([header, *rows[i::3]]) + "\n")
            stored = land(self.info, csv, "interlock-landing", f"{part}/part-{i}.csv")
            self.t.say(f"data landed: {stored.uri} (batched pipeline churn-batched)")
        marker = self.root / "data" / "_SUCCESS"
        marker.write_bytes(b"")
        land(self.info, marker, "interlock-landing", f"{part}/_SUCCESS")
        self.t.say(f"data landed: gs://interlock-landing/{part}/_SUCCESS (the sentinel)")
        closed = self.wait_outcome(
            "batch window closed",
            lambda o: any("closed (sentinel): 3 object(s)" in e for e in o.effects),
            since,
        )
        latency = (closed.decided_at - since).total_seconds()
        self.t.rows.append(
            Row(
                "_SUCCESS (3 files batched)",
                "triggered",
                "DAG train_on_arrival run on the window's manifest",
                latency,
            )
        )
        self.t.say(f"  → {closed.effects[0].split('; ', 1)[-1]}")
        run = self.wait_dag_run(runs)
        self.t.say(f"  DAG train_on_arrival run {run['dag_run_id']} succeeded on all 3 files")
        evaluated = self.wait_outcome(
            "evaluation", lambda o: o.event_type.endswith("model.evaluated.v1"), since
        )
        self.row("model.evaluated (v3, batch)", evaluated, since)

    def row(self, event: str, outcome: Outcome, since: datetime) -> None:
        latency = (outcome.decided_at - since).total_seconds()
        # The traffic line says what users now get; the DAG line what started.
        moves = [e for e in outcome.effects if e.startswith(("traffic", "DAG"))] or list(
            outcome.effects
        )
        effect = moves[0] if moves else "-"
        self.t.rows.append(Row(event, outcome.kind, effect, latency))
        # A rejection's first reason is the failing rule; elsewhere the last one is the move made.
        reason = outcome.reasons[0 if outcome.kind == "rejected" else -1] if outcome.reasons else ""
        self.t.say(f"  → {outcome.kind}: {reason}")

    def step_observe(self, kind: str, label: str) -> Outcome:
        """Wait for the observer's window that decides `kind`: nobody publishes one by hand."""
        since = datetime.now(UTC) - timedelta(seconds=1)
        outcome = self.wait_outcome(
            f"observed {kind}",
            lambda o: o.event_id.startswith("observe:") and o.kind == kind,
            since,
        )
        self.row(label, outcome, since)
        return outcome

    # -- the scenario ----------------------------------------------------------------------
    def run(self) -> None:
        day1 = self.make_data("day1.csv", "--rows", "60", "--noise", "0.3", "--seed", "3")
        day2 = self.make_data("day2.csv", "--rows", "350", "--seed", "2")
        v1 = self.land_and_train(day1, "v1")
        if v1.kind != "promoted":
            raise StepFailed(f"v1 should be promoted, was {v1.kind}: {v1.reasons}")
        self.expect_served({"v1": 100})
        self.traffic = Traffic(self.info.service_url()).start()
        self.t.say("traffic: real prediction requests, ~60/s, until the end")
        v2 = self.land_and_train(day2, "v2")
        if v2.kind != "promoted":
            raise StepFailed(f"v2 should start its canary, was {v2.kind}: {v2.reasons}")
        self.expect_served({"v1": 90, "v2": 10})
        self.t.say("observer: v2's windows, read from what it served")
        self.step_observe("advanced", "observed: v2 healthy windows")
        self.expect_served({"v1": 50, "v2": 50})
        champion = self.step_observe("promoted", "observed: v2 healthy windows")
        self.expect_served({"v2": 100})
        self.serving_fault(f"{SERVICE}-v2", 0.2)
        self.t.say("fault: v2's container answers 20 % of its requests with 500")
        try:
            rolled = self.step_observe("rolled_back", "observed: v2 20 % errors")
        finally:
            self.serving_fault(f"{SERVICE}-v2", 0.0)
        self.expect_served({"v1": 100})
        self.traffic.stop()
        served = ", ".join(f"{k}: {n}" for k, n in sorted(self.traffic.served.items()))
        self.t.say(f"traffic served {served}")
        self.land_batch_and_train()
        # Lineage: what serves now (v1, back), and what served while v2 had all the traffic.
        self.v2_served_at = champion.decided_at + (rolled.decided_at - champion.decided_at) / 2
        demo_lineage.show(self.t.say, str(self.root), "churn", self.v2_served_at)

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()


def summary(rows: list[Row]) -> str:
    widths = (32, 12, 58)
    lines = [f"{'event':<{widths[0]}} {'decision':<{widths[1]}} {'effect':<{widths[2]}} after"]
    lines.append("-" * (sum(widths) + 12))
    for r in rows:
        effect = r.effect if len(r.effect) <= widths[2] else r.effect[: widths[2] - 1] + "…"
        lines.append(
            f"{r.event:<{widths[0]}} {r.decision:<{widths[1]}} {effect:<{widths[2]}} {r.latency_s:6.1f}s"
        )
    return "\n".join(lines)


def run_demo(root: str, airflow_version: str = "3") -> int:
    base = Path(root).resolve()
    shutil.rmtree(base, ignore_errors=True)  # each demo starts from nothing
    timeline = Timeline()
    timeline.say(f"interlock demo: everything under {base} (logs in {base}/logs)")
    stack = demo_stack(base, lambda line: timeline.say(line), airflow_version)
    demo: Demo | None = None
    try:
        info = stack.start()
        demo = Demo(stack, info, timeline)
        demo.run()
        report = write_report(stack.policy, info.ledger, base / "report.html")
    except StepFailed as err:
        timeline.say(f"FAILED: {err}")
        print(summary(timeline.rows))
        print(f"logs: {base}/logs, Airflow task logs: {base}/airflow/logs")
        return 1
    except KeyboardInterrupt:
        timeline.say("interrupted")
        return 130
    finally:
        if demo is not None:
            demo.stop()
        stack.stop()
    print()
    print(summary(timeline.rows))
    timeline.say(f"timeline report: {report} (open it in a browser)")
    timeline.say("demo complete: every step happened; every process it started is stopped")
    return 0


def write_report(policy_path: Path, ledger_spec: str, page: Path) -> Path:
    """`interlock report churn --html` over the demo's ledger: what a person opens afterwards."""
    from datetime import UTC, datetime

    from interlock.adapters.ledger_sqlite import SqliteLedger
    from interlock.adapters.policy_yaml import read_policy
    from interlock.cli.report_html import render

    policy = read_policy(str(policy_path))
    ledger = SqliteLedger(ledger_spec.removeprefix("sqlite:"))
    model = policy.models[0]
    page.write_text(render(model, ledger.outcomes(model.name, limit=500), datetime.now(UTC)))
    return page
