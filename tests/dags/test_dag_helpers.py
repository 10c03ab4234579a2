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

from interlock_dag import chain, evaluate, inputs, publish  # noqa: E402
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


def test_check_content_returns_the_size_and_md5_read_when_the_conf_gave_neither() -> None:
    _, announced = inputs.parse_conf({**GOOD, "size": None})
    assert (announced.md5, announced.size) == (None, None)
    read = inputs.check_content(announced, b"abc")
    assert (read.md5, read.size) == ("kAFQmDzST7DWlj99KOF/cg==", 3)


def test_read_local_says_the_generation_was_overwritten_when_a_newer_one_is_live(
    tmp_path: Path,
) -> None:
    from interlock.adapters.storage_local import LocalObjectStore

    store = LocalObjectStore(tmp_path)
    first = store.put("interlock-landing", "churn/incoming/a.csv", b"day one")
    second = store.put("interlock-landing", "churn/incoming/a.csv", b"day two")
    assert first is not None and second is not None
    uri = f"gs://interlock-landing/churn/incoming/a.csv#{first.generation}"
    _, pinned = inputs.parse_conf({**GOOD, "object": uri, "input": uri})
    with pytest.raises(inputs.BadInput) as raised:
        inputs.read_local(tmp_path, pinned)
    assert str(raised.value) == (
        f"{uri}: generation {first.generation} no longer exists (overwritten after it landed, "
        f"the live generation is now {second.generation}; without Object Versioning GCS keeps "
        "only the live generation): inputs must stay immutable once a run references them"
    )
    assert store.delete("interlock-landing", "churn/incoming/a.csv")
    with pytest.raises(inputs.BadInput, match=r"\(deleted after it landed, or never existed;"):
        inputs.read_local(tmp_path, pinned)


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
    # Known before the version exists: the version's labels carry it at upload.
    assert attributes["ce-id"] == chain.evaluated_event_id("churn", "gcs__abc")


TRAINED_ON = chain.TrainedOn(URI, 17, "kAFQmDzST7DWlj99KOF/cg==", 3, None, 1)
BATCH = chain.TrainedOn(
    "gs://interlock-landing/_interlock/manifests/churn-batched/w.json#99", 99, None, None,
    "ab" * 32, 3,
)  # fmt: skip


def test_md5_hex_restates_gcs_base64_md5_as_lowercase_hex() -> None:
    assert chain.md5_hex("kAFQmDzST7DWlj99KOF/cg==") == hashlib.md5(b"abc").hexdigest()
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError, match="md5"):
            chain.md5_hex(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("breast-cancer-holdout-v1", "breast-cancer-holdout-v1"),
        ("Holdout.V2/2026 Q1", "holdout-v2-2026-q1"),
        ("x" * 80, "x" * 63),
    ],
)
def test_label_value_is_lowercase_safe_and_at_most_63_characters(text: str, expected: str) -> None:
    assert chain.label_value(text) == expected
    chain.check_labels({"k": chain.label_value(text)})


def test_labels_of_a_single_object_run_name_its_generation_hex_md5_dataset_and_event() -> None:
    labels = chain.labels("churn", "gcs__abc", TRAINED_ON, "Breast.Cancer")
    assert labels == {
        "interlock-model": "churn",
        "interlock-run": chain.run_digest("gcs__abc"),
        "interlock-input-generation": "17",
        "interlock-input-md5": hashlib.md5(b"abc").hexdigest(),
        "interlock-eval-dataset": "breast-cancer",
        "interlock-eval-event": chain.evaluated_event_id("churn", "gcs__abc"),
    }
    assert set(labels) <= set(chain.LABEL_KEYS)


def test_labels_of_a_batch_run_name_the_manifest_not_an_md5() -> None:
    labels = chain.labels("churn", "batch__w", BATCH, DATASET_ID)
    assert labels["interlock-input-generation"] == "99"
    assert labels["interlock-manifest-sha256"] == "ab" * 16
    assert "interlock-input-md5" not in labels


def test_labels_omit_the_md5_when_gcs_reported_none() -> None:
    composite = chain.TrainedOn(URI, 17, None, 3, None, 1)
    assert "interlock-input-md5" not in chain.labels("churn", "r", composite, DATASET_ID)


@pytest.mark.parametrize(
    "labels",
    [{"Upper": "v"}, {"1key": "v"}, {"k": "UPPER"}, {"k": "a.b"}, {"k": "x" * 64}, {"": "v"}],
)
def test_check_labels_refuses_what_google_refuses(labels: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="label"):
        chain.check_labels(labels)


def test_description_is_one_line_of_sorted_compact_json_with_the_whole_chain() -> None:
    import json

    text = chain.description("churn", "gcs__abc", TRAINED_ON, DATASET_ID, "file:///a/model")
    assert "\n" not in text and ", " not in text
    assert json.loads(text) == {
        "run_id": "gcs__abc",
        "input_uri": URI,
        "input_md5": "kAFQmDzST7DWlj99KOF/cg==",
        "manifest_sha256": None,
        "objects": 1,
        "dataset_id": DATASET_ID,
        "evaluated_event_id": chain.evaluated_event_id("churn", "gcs__abc"),
        "artifact_uri": "file:///a/model",
    }
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    batch = json.loads(chain.description("churn", "b", BATCH, DATASET_ID, "gs://s/m"))
    assert (batch["input_md5"], batch["manifest_sha256"], batch["objects"]) == (None, "ab" * 32, 3)


def test_description_drops_the_artifact_then_cuts_fields_when_too_long_and_stays_json() -> None:
    import json

    long_name = chain.TrainedOn(f"gs://b/{'n' * 1500}#1", 1, None, 3, None, 1)
    text = chain.description("churn", "r" * 250, long_name, DATASET_ID, "gs://s/" + "a" * 900)
    body = json.loads(text)
    assert len(text) <= chain.DESCRIPTION_MAX
    assert body["artifact_uri"] is None and body["truncated"] == ["artifact_uri"]
    assert body["input_uri"] == long_name.uri and body["run_id"] == "r" * 250
    # Beyond that, run_id and dataset_id are cut before the input's URI.
    huge = chain.TrainedOn(f"gs://b/{'ü' * 2100}#1", 1, None, 3, None, 1)
    text = chain.description("churn", "r" * 250, huge, "d" * 300, "gs://s/m")
    body = json.loads(text)
    assert len(text) <= chain.DESCRIPTION_MAX
    assert body["truncated"] == ["artifact_uri", "run_id", "dataset_id", "input_uri"]
    assert body["run_id"] == "" and body["dataset_id"] == ""
    assert huge.uri.startswith(body["input_uri"]) and body["evaluated_event_id"]


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
