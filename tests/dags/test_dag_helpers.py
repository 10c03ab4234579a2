"""DAG tests: the pure helpers under dags/interlock_dag (conf checks, cleaning, metrics, demo data).

They need only scikit-learn, so they run in the project venv, importing the helpers the way
Airflow does: with the dags folder on sys.path.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
if str(DAGS) not in sys.path:
    sys.path.append(str(DAGS))

from interlock_dag import evaluate, inputs, publish  # noqa: E402
from interlock_dag.dataset import DATASET_ID, HOLDOUT_ROWS, TARGET, load  # noqa: E402
from interlock_dag.linear_model import LinearModel  # noqa: E402
from interlock_dag.make_demo_data import demo_csv  # noqa: E402
from interlock_dag.trainer import fit, main  # noqa: E402

URI = "gs://interlock-landing/churn/incoming/a.csv#17"
GOOD = {"object": URI, "model": "churn", "md5": None, "size": 3, "input": URI}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"object": None}, "conf.object must be"),
        ({"object": "gs://interlock-landing/a.csv"}, "not a pinned object"),
        ({"object": "gs://interlock-landing/../etc/passwd#1"}, "'..' segments"),
        ({"input": "gs://other/b.csv#1"}, "conf.input"),
        ({"model": "Churn!"}, "conf.model"),
        ({"size": "-1"}, "conf.size"),
        ({"size": True}, "conf.size"),
        ({"md5": 5}, "conf.md5"),
    ],
)
def test_parse_conf_names_the_field_when_the_conf_is_bad(
    change: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(inputs.BadConf, match=fragment.replace("(", r"\(")):
        inputs.parse_conf({**GOOD, **change})


def test_parse_conf_refuses_an_empty_conf_when_triggered_by_hand() -> None:
    with pytest.raises(inputs.BadConf, match="conf is empty"):
        inputs.parse_conf({})


def test_parse_conf_pins_bucket_name_and_generation_when_the_conf_is_good() -> None:
    model, pinned = inputs.parse_conf({**GOOD, "size": "3"})
    assert (model, pinned.bucket, pinned.name, pinned.generation, pinned.size) == (
        "churn", "interlock-landing", "churn/incoming/a.csv", 17, 3,
    )  # fmt: skip


def test_check_content_refuses_bytes_when_size_or_md5_differ() -> None:
    _, pinned = inputs.parse_conf(
        {**GOOD, "md5": base64.b64encode(hashlib.md5(b"abc").digest()).decode()}
    )
    inputs.check_content(pinned, b"abc")
    with pytest.raises(inputs.BadInput, match="md5 is"):
        inputs.check_content(pinned, b"abd")
    with pytest.raises(inputs.BadInput, match="size is 4 bytes"):
        inputs.check_content(pinned, b"abcd")


def test_local_object_path_follows_the_local_bucket_layout(tmp_path: Path) -> None:
    _, pinned = inputs.parse_conf(GOOD)
    path = inputs.local_object_path(tmp_path, pinned)
    assert path == (tmp_path / ".objects/interlock-landing/17/churn/incoming/a.csv").resolve()


def test_clean_rows_drops_gaps_and_bad_labels_when_rows_are_dirty() -> None:
    names = ["a", "b"]
    good = "\n".join(f"{i},{i * 2},{i % 2}" for i in range(12))
    text = f"b,a,{TARGET},extra\n" + good + "\n1,,0\n1,2,7\nnan,1,0\n"
    cleaned = inputs.clean_rows(text, names)
    assert cleaned.header == ["a", "b", TARGET]
    assert cleaned.dropped == 3
    # Columns come back in the dataset's order whatever the file's order was.
    assert cleaned.rows[1] == [2.0, 1.0, 1.0]


def test_clean_rows_refuses_a_file_when_a_column_is_missing() -> None:
    with pytest.raises(inputs.BadInput, match="lacks 1 column"):
        inputs.clean_rows("a,target\n1,0\n", ["a", "b"])


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),
        ([0, 1, 1], [0.3, 0.3, 0.9], 0.75),
    ],
)
def test_auc_matches_the_mann_whitney_statistic(
    labels: list[int], scores: list[float], expected: float
) -> None:
    assert evaluate.auc(labels, scores) == pytest.approx(expected)


def test_holdout_is_fixed_and_never_in_demo_data() -> None:
    data = load()
    assert len(data.holdout) == HOLDOUT_ROWS
    assert len(data.holdout) + len(data.pool) == 569
    held = {tuple(r) for r in data.holdout.features}
    rows = inputs.clean_rows(demo_csv(369, seed=1, noise=0.0), data.feature_names).rows
    assert not held & {tuple(r[:-1]) for r in rows}


def test_day_two_data_beats_day_one_data_when_evaluated_on_the_holdout() -> None:
    data = load()

    def accuracy(rows: int, noise: float, seed: int) -> float:
        cleaned = inputs.clean_rows(demo_csv(rows, seed, noise), data.feature_names)
        features = [r[:-1] for r in cleaned.rows]
        labels = [int(r[-1]) for r in cleaned.rows]
        model = LinearModel.from_json(fit(list(data.feature_names), features, labels))
        result = evaluate.evaluate(model, data.holdout)
        assert result.dataset_id == DATASET_ID
        return result.metrics["accuracy"]

    day1, day2 = accuracy(60, 0.3, seed=1), accuracy(350, 0.0, seed=2)
    assert day2 - day1 > 0.1, (day1, day2)


def test_evaluated_payload_carries_the_binding_attributes_and_a_stable_id() -> None:
    from datetime import UTC, datetime

    from interlock.contract import validate
    from interlock.core.binding import cloudevent_attributes

    when = datetime(2024, 6, 3, 10, 42, 17, tzinfo=UTC)
    payload = publish.evaluated_payload(
        model="churn",
        version="7",
        evaluation={"dataset_id": DATASET_ID, "sample_count": 200, "metrics": {"accuracy": 0.9}},
        run_id="gcs__abc",
        input_uri=URI,
        artifact_uri="file:///tmp/x",
        evaluated_at=when,
    )
    validate(publish.EVALUATED_TYPE, payload)
    attributes = publish.attributes(payload, when)
    # The DAG cannot import interlock; this keeps its copy of the binding equal to interlock's.
    assert attributes == cloudevent_attributes(
        publish.EVALUATED_TYPE, publish.SOURCE, publish.event_id(payload), when
    )
    assert attributes["ce-id"] == publish.attributes(payload, datetime.now(UTC))["ce-id"]


def _rest(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    import json
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        reply: dict[str, Any] = json.loads(response.read() or b"{}")
    return reply


@pytest.mark.pubsub
def test_publish_to_emulator_delivers_an_event_interlock_parses_when_the_emulator_is_set(
    pubsub_emulator: Any, pubsub_project: str
) -> None:
    from datetime import UTC, datetime

    from interlock.core.events import ModelEvaluated
    from interlock.core.inbound import parse_document

    base = f"http://{pubsub_emulator.host_port}/v1/projects/{pubsub_project}"
    _rest("PUT", f"{base}/topics/{publish.DEFAULT_TOPIC}")
    subscription = f"projects/{pubsub_project}/subscriptions/check"
    _rest(
        "PUT",
        f"{base}/subscriptions/check",
        {"topic": f"projects/{pubsub_project}/topics/{publish.DEFAULT_TOPIC}"},
    )
    payload = publish.evaluated_payload(
        model="churn",
        version="3",
        evaluation={"dataset_id": DATASET_ID, "sample_count": 200, "metrics": {"accuracy": 0.9}},
        run_id="manual__2024-06-03T10:42:17+00:00",
        input_uri=URI,
        artifact_uri="file:///tmp/x",
        evaluated_at=datetime.now(UTC),
    )
    message_id = publish.publish_to_emulator(
        pubsub_emulator.host_port, pubsub_project, publish.DEFAULT_TOPIC, payload, datetime.now(UTC)
    )
    [received] = _rest("POST", f"{base}/subscriptions/check:pull", {"maxMessages": 1})[
        "receivedMessages"
    ]
    assert received["message"]["messageId"] == message_id
    inbound = parse_document({"message": received["message"], "subscription": subscription})
    assert isinstance(inbound.payload, ModelEvaluated)
    assert inbound.payload.version == "3"


def test_trainer_writes_its_model_to_aip_model_dir_when_run_as_the_vertex_job_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_csv = tmp_path / "train.csv"
    train_csv.write_text(demo_csv(80, seed=4, noise=0.0))
    # Vertex AI custom jobs pass the output directory only through this variable.
    monkeypatch.setenv("AIP_MODEL_DIR", str(tmp_path / "model"))
    assert main(["--train", train_csv.as_uri()]) == 0
    model = LinearModel.load(tmp_path / "model" / "model.json")
    assert model.feature_names == load().feature_names
