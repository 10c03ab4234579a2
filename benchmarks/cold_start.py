"""Cold start per function: process start → first event answered, as a ratio to a hello-world
functions-framework function measured in the same run (absolute seconds depend on the machine;
the ratio is what to compare across changes).

Each function answers a real event on its real path against the local stack (stand-in, Pub/Sub
emulator when installed, Airflow for on_data_landed); `--rounds` fresh processes per function.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))

from interlock.core import binding  # noqa: E402
from interlock.core.codec import encode  # noqa: E402
from interlock.core.events import GCS_FINALIZED, ModelEvaluated, ModelObserved, RollbackRequested  # noqa: E402
from interlock_dev.processes import HOST, ServiceProcess, free_port  # noqa: E402
from interlock_dev.stack import PROJECT, REGION, LocalStack  # noqa: E402

HELLO = REPO / "benchmarks" / "hello_main.py"


def structured(payload: Any) -> dict[str, Any]:
    ce_type = binding.ce_type_of(payload)
    return binding.structured(
        ce_type, "//bench", uuid.uuid4().hex, datetime.now(UTC), encode(payload)
    )


def landed() -> dict[str, Any]:
    generation = str(time.time_ns() // 1000)
    return binding.structured(
        GCS_FINALIZED, "//storage.googleapis.com/projects/_/buckets/interlock-landing",
        uuid.uuid4().hex, datetime.now(UTC),
        {"bucket": "interlock-landing", "name": "churn/incoming/bench.csv", "generation": generation, "size": "10"},
    )  # fmt: skip


def evaluated() -> dict[str, Any]:
    now = datetime.now(UTC)
    return structured(ModelEvaluated(
        model="churn", version="1", dataset_id="bench", sample_count=1000,
        metrics={"accuracy": 0.95, "latency_p95_ms": 10.0}, evaluated_at=now, run_id=uuid.uuid4().hex,
    ))  # fmt: skip


def observed() -> dict[str, Any]:
    end = datetime.now(UTC)
    return structured(ModelObserved(
        model="churn", revision="churn-v99", version="99", window_start=end - timedelta(minutes=1),
        window_end=end, sample_count=100, metrics={"error_rate": 0.0, "accuracy": 1.0},
    ))  # fmt: skip


def rollback() -> dict[str, Any]:
    return structured(
        RollbackRequested(request_id=uuid.uuid4().hex, model="churn", requested_by="bench")
    )


def hello() -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": "bench.hello",
        "source": "//bench",
        "id": uuid.uuid4().hex,
        "data": {},
    }


def cold_start(
    target: str,
    source: Path,
    env: dict[str, str],
    event: Callable[[], dict[str, Any]],
    log_dir: Path,
) -> float:
    """Seconds from spawning functions-framework to the first answered event (any HTTP status)."""
    port = free_port(47700)
    binary = str(Path(sys.executable).with_name("functions-framework"))
    argv = [binary, "--target", target, "--source", str(source), "--signature-type", "cloudevent",
            "--host", HOST, "--port", str(port)]  # fmt: skip
    body = json.dumps(event()).encode()
    began = time.monotonic()
    proc = ServiceProcess(f"bench-{target}", argv, log_dir / f"bench-{target}.log", env).start()
    try:
        while time.monotonic() - began < 60:
            request = urllib.request.Request(
                f"http://{HOST}:{port}/", data=body, method="POST",
                headers={"Content-Type": "application/cloudevents+json"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=30):
                    pass
                return time.monotonic() - began
            except urllib.error.HTTPError as err:
                if err.code >= 500:
                    raise RuntimeError(
                        f"{target} failed: {err.read()[:300]!r}; log {proc.log_path}"
                    ) from None
                return time.monotonic() - began
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.005)
        raise RuntimeError(f"{target} did not answer within 60 s; log {proc.log_path}")
    finally:
        proc.stop(grace_s=2)


def seed_registry(standin: str) -> None:
    """Version 1 of the model, so on_model_evaluated runs its real promotion path."""
    parent = f"projects/{PROJECT}/locations/{REGION}"
    body = {
        "modelId": "churn",
        "model": {
            "displayName": "churn",
            "artifactUri": "file:///tmp/bench-model",
            "containerSpec": {"imageUri": "us-docker.pkg.dev/interlock/serve:1"},
        },
    }
    request = urllib.request.Request(
        f"{standin}/v1/{parent}/models:upload", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass
    time.sleep(1)  # the upload is a short long-running operation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-airflow", action="store_true", help="skip on_data_landed's Airflow")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="interlock-bench-"))
    print(f"cold start, {args.rounds} fresh processes each; stack under {root}", flush=True)
    with LocalStack(
        root, airflow=not args.no_airflow, progress=lambda s: print("  " + s, flush=True)
    ) as stack:
        seed_registry(stack.info.standin)
        base_env = stack.function_env()
        if stack.airflow is not None:
            base_env.update({
                "INTERLOCK_AIRFLOW_URL": stack.info.airflow,
                "AIRFLOW_USERNAME": stack.info.airflow_user,
                "AIRFLOW_PASSWORD": stack.info.airflow_password,
            })  # fmt: skip
        cases: list[tuple[str, Path, Callable[[], dict[str, Any]]]] = [
            ("hello", HELLO, hello),
            ("on_model_evaluated", REPO / "functions" / "main.py", evaluated),
            ("on_model_observed", REPO / "functions" / "main.py", observed),
            ("on_request", REPO / "functions" / "main.py", rollback),
        ]
        if stack.airflow is not None:
            cases.insert(1, ("on_data_landed", REPO / "functions" / "main.py", landed))
        results: dict[str, list[float]] = {}
        for round_no in range(args.rounds):
            for target, source, event in cases:
                env = {
                    **base_env,
                    "INTERLOCK_LEDGER": f"sqlite:{root}/bench-{target}-{round_no}.db",
                }
                results.setdefault(target, []).append(
                    cold_start(target, source, env, event, root / "logs")
                )
        baseline = statistics.median(results["hello"])
    print()
    print(f"{'function':<20} {'median':>8} {'min':>8} {'max':>8} {'x hello':>8}")
    for target, times in results.items():
        median = statistics.median(times)
        print(
            f"{target:<20} {median:7.2f}s {min(times):7.2f}s {max(times):7.2f}s {median / baseline:7.1f}x"
        )
    print(f"\nhello world (functions-framework, same machine, same run): {baseline:.2f}s median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
