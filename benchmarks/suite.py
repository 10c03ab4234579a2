"""`make bench`: every performance figure of issue 17 in ONE table, each with its goal and a
baseline measured in the same run (absolute numbers depend on the machine; ratios compare).

To add a figure, write a function `(Bench) -> list[Row]` and append it to BENCHMARKS.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))
sys.path.insert(0, str(REPO / "benchmarks"))

import cold_start  # noqa: E402
import decision_path  # noqa: E402
import path  # noqa: E402

from interlock_dev.first_events import FIRST  # noqa: E402
from interlock_dev.stack import PROJECT, REGION, LocalStack  # noqa: E402

COLD_START_GOAL = 1.5  # x hello world
RSS_GOAL_MIB = 256
EVENTS_GOAL = 20_000  # per core, every kind
EFFECT_P95_GOAL_S = 0.300
ROLLBACK_GOAL_S = 1.0
DAG_ID = "train_on_arrival"  # the DAG the policy's landings trigger


@dataclass(frozen=True)
class Row:
    name: str  # a function's name, or what is measured
    figure: str
    goal: str
    baseline: str  # measured in the same run
    result: str  # the last column: a ratio ("1.3x"), or the figure against its goal
    met: bool | None = None  # None: reported, no pass/fail


@dataclass
class Bench:
    stack: LocalStack
    env: dict[str, str]
    root: Path
    rounds: int
    notes: list[str] = field(default_factory=list)


def cold_starts(b: Bench) -> list[Row]:
    """Every function (and hello world) in `rounds` fresh processes, interleaved."""
    # Bytecode ahead, as pip compiled every package hello world imports: without it (and with
    # PYTHONDONTWRITEBYTECODE) each start would compile interlock from source, a cost no
    # deployment that ships .pyc files pays.
    compileall.compile_dir(str(cold_start.MAIN.parent), quiet=1)
    compileall.compile_file(str(cold_start.HELLO), quiet=1)
    cases: dict[str, tuple[Path, Callable[[], dict[str, object]]]] = {
        "hello": (cold_start.HELLO, cold_start.hello)
    }
    for function, event in FIRST.items():
        if function == "on_data_landed" and b.stack.airflow is None:
            continue
        cases[function] = (cold_start.MAIN, event)
    starts: dict[str, list[cold_start.Start]] = {}
    for round_no in range(b.rounds):
        for target, (source, event) in cases.items():
            env = {**b.env, "INTERLOCK_LEDGER": f"sqlite:{b.root}/bench-{target}-{round_no}.db"}
            starts.setdefault(target, []).append(
                cold_start.cold_start(target, source, env, event, b.root / "logs")
            )
    base = cold_start.median_start(starts.pop("hello"))
    rows = []
    for target, runs in starts.items():
        got = cold_start.median_start(runs)
        ratio = got.seconds / base.seconds
        cpu = got.cpu_seconds / base.cpu_seconds
        rss_ok = math.isnan(got.peak_rss_mib) or got.peak_rss_mib <= RSS_GOAL_MIB
        rows.append(Row(
            target,
            f"cold start {got.seconds:.2f} s (CPU {got.cpu_seconds:.2f} s, {cpu:.2f}x),"
            f" peak RSS {got.peak_rss_mib:.0f} MiB",
            f"<= {COLD_START_GOAL}x, <= {RSS_GOAL_MIB} MiB",
            f"hello world {base.seconds:.2f} s (CPU {base.cpu_seconds:.2f} s),"
            f" {base.peak_rss_mib:.0f} MiB",
            f"{ratio:.1f}x",
            ratio <= COLD_START_GOAL and rss_ok,
        ))  # fmt: skip
    b.notes.append(
        f"cold start: median of {b.rounds} fresh processes, wall clock (the ratio) and the"
        " process's CPU time (what a busy machine does not stretch); RSS: the largest"
    )
    return rows


def decision_rates(b: Bench) -> list[Row]:
    rows = []
    for kind, rate, baseline in decision_path.measure():
        rows.append(Row(
            f"decision path {kind}", "parse + validate + decide, one core",
            f">= {EVENTS_GOAL:,} events/s", f"json.loads alone {baseline:,.0f} events/s",
            f"{rate:,.0f} events/s", rate >= EVENTS_GOAL,
        ))  # fmt: skip
    return rows


def publish_to_effect(b: Bench) -> list[Row]:
    if b.stack.info.pubsub is None:
        return [Row("publish -> effect p95", "n/a: no Pub/Sub emulator", "", "", "skipped")]
    loop = path.Loop(b.stack)
    path.publish_to_effect(loop, 3)  # warm the functions: this measures the path, not starts
    took = path.publish_to_effect(loop, 20 * max(1, b.rounds // 5))
    p95 = path.p95(took)
    return [Row(
        "publish -> effect p95", f"{p95 * 1000:.0f} ms (request published -> decision recorded)",
        f"<= {EFFECT_P95_GOAL_S * 1000:.0f} ms", f"median {sorted(took)[len(took) // 2] * 1000:.0f} ms",
        f"{p95 * 1000:.0f} ms", p95 <= EFFECT_P95_GOAL_S,
    )]  # fmt: skip


def rollback(b: Bench) -> list[Row]:
    if b.stack.info.pubsub is None:
        return [Row("breaching window -> rollback", "n/a: no Pub/Sub emulator", "", "", "skipped")]
    loop = path.Loop(b.stack)
    took = path.rollback_latency(loop, lambda: upload_version(b.stack.info.standin))
    return [Row(
        "breaching window -> rollback", f"{took * 1000:.0f} ms (published -> stand-in serves 0 %)",
        f"<= {ROLLBACK_GOAL_S * 1000:.0f} ms", "", f"{took * 1000:.0f} ms", took <= ROLLBACK_GOAL_S,
    )]  # fmt: skip


def exactly_once(b: Bench) -> list[Row]:
    if b.stack.airflow is None:
        return [Row("exactly once (3 deliveries)", "n/a: --no-airflow", "", "", "skipped")]
    ours, our_runs, naive, naive_runs = path.exactly_once(b.stack, 3)
    return [Row(
        "exactly once (3 deliveries)", f"{our_runs} DAG run, {ours * 1000:.0f} ms per delivery",
        "1 DAG run", f"naive trigger (no run id): {naive_runs} runs, {naive * 1000:.0f} ms per delivery",
        f"{ours / naive:.1f}x", our_runs == 1,
    )]  # fmt: skip


# One list: each entry adds its rows to the table, in this order.
BENCHMARKS: list[Callable[[Bench], list[Row]]] = [
    cold_starts,
    decision_rates,
    publish_to_effect,
    rollback,
    exactly_once,  # last: the DAG runs it starts keep Airflow busy
]


def upload_version(standin: str) -> str:
    """A new version of the churn model in the stand-in's registry; its version id."""
    parent = f"projects/{PROJECT}/locations/{REGION}"
    model = f"{parent}/models/churn"
    body = {"parentModel": model, "model": {
        "displayName": "churn", "artifactUri": "file:///tmp/bench-model",
        "containerSpec": {"imageUri": "us-docker.pkg.dev/interlock/serve:1"}}}  # fmt: skip
    op = _post(f"{standin}/v1/{parent}/models:upload", body)
    while not op.get("done"):
        time.sleep(0.02)
        with urllib.request.urlopen(f"{standin}/v1/{op['name']}", timeout=10) as answer:
            op = json.loads(answer.read())
    return str(op["response"]["modelVersionId"])


def seed_registry(standin: str) -> None:
    """Version 1 of the model, so on_model_evaluated runs its real promotion path."""
    parent = f"projects/{PROJECT}/locations/{REGION}"
    body = {"modelId": "churn", "model": {
        "displayName": "churn", "artifactUri": "file:///tmp/bench-model",
        "containerSpec": {"imageUri": "us-docker.pkg.dev/interlock/serve:1"}}}  # fmt: skip
    op = _post(f"{standin}/v1/{parent}/models:upload", body)
    while not op.get("done"):
        time.sleep(0.02)
        with urllib.request.urlopen(f"{standin}/v1/{op['name']}", timeout=10) as answer:
            op = json.loads(answer.read())


def _post(url: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        found: dict[str, object] = json.loads(answer.read())
        return found


def table(rows: list[Row]) -> str:
    head = Row("benchmark", "figure", "goal", "baseline (same run)", "result")
    cols = [
        max(len(getattr(r, f)) for r in [head, *rows])
        for f in ("name", "figure", "goal", "baseline")
    ]
    lines = []
    for r in [head, *rows]:
        mark = {True: "  ", False: "! ", None: "  "}[r.met]
        cells = (r.name, r.figure, r.goal, r.baseline)
        lines.append(
            mark + "  ".join(c.ljust(w) for c, w in zip(cells, cols, strict=True)) + "  " + r.result
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per function")
    parser.add_argument("--no-airflow", action="store_true", help="skip on_data_landed's Airflow")
    parser.add_argument("--only", action="append", choices=[b.__name__ for b in BENCHMARKS],
                        help="run only this benchmark (repeatable); default: all")  # fmt: skip
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="interlock-bench-"))
    print(f"make bench: stack under {root}", flush=True)
    # Operations finish at once: a revision rollout's wait is Cloud Run's, not a cold start.
    with LocalStack(root, airflow=not args.no_airflow, operation_delay_s=0.0,
                    progress=lambda s: print("  " + s, flush=True)) as stack:  # fmt: skip
        seed_registry(stack.info.standin)
        env = stack.function_env()
        if stack.airflow is not None:
            env.update({
                "INTERLOCK_AIRFLOW_URL": stack.info.airflow,
                "AIRFLOW_USERNAME": stack.info.airflow_user,
                "AIRFLOW_PASSWORD": stack.info.airflow_password,
            })  # fmt: skip
        if stack.airflow is not None:
            info = stack.info
            path.Airflow(info.airflow, info.airflow_user, info.airflow_password).pause(DAG_ID)
        bench = Bench(stack, env, root, args.rounds)
        rows: list[Row] = []
        for benchmark in BENCHMARKS:
            if args.only and benchmark.__name__ not in args.only:
                continue
            began = time.monotonic()
            rows += benchmark(bench)
            print(f"  {benchmark.__name__} ({time.monotonic() - began:.0f} s)", flush=True)
    print()
    print(table(rows))
    print()
    for note in bench.notes:
        print(note)
    missed = [r.name for r in rows if r.met is False]
    print("every goal met" if not missed else f"! below goal: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
