"""DAG helpers: the lineage chain a model version carries — labels and version description.

At upload, both targets put on the Vertex Model Registry version what it was trained on and how
it was judged, so the registry (and Google's console) answers "what is this version?" on its own,
and interlock's `lineage` command can walk from a version back to the bytes:

    interlock-model             the model id
    interlock-run               sha256(DAG run id)[:32] (run ids are not label-safe)
    interlock-input-generation  the pinned object's generation, or the batch manifest's
    interlock-input-md5         the object's MD5 as lowercase hex (single object, when known)
    interlock-manifest-sha256   the manifest's sha256, first 32 hex digits (batch runs)
    interlock-eval-dataset      the evaluation dataset id, made label-safe
    interlock-eval-event        the id of the model.evaluated CloudEvent the run publishes

The version description is one line of compact JSON with the full values (run id, pinned input
URI, base64 MD5 as GCS reports it, full manifest sha256, object count, dataset, event id,
artifact). Labels follow Google's rules (cloud.google.com/resource-manager/docs/labels-overview):
keys and values at most 63 characters of lowercase letters, digits, '_' and '-', keys starting
with a letter. Pure functions: no Airflow, no network.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

LABEL_MAX = 63
# Our own bound: Vertex documents no limit on versionDescription, and the console shows it whole.
DESCRIPTION_MAX = 2048
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_UNSAFE = re.compile(r"[^a-z0-9_-]")

MODEL = "interlock-model"
RUN = "interlock-run"
INPUT_GENERATION = "interlock-input-generation"
INPUT_MD5 = "interlock-input-md5"
MANIFEST_SHA256 = "interlock-manifest-sha256"
EVAL_DATASET = "interlock-eval-dataset"
EVAL_EVENT = "interlock-eval-event"
LABEL_KEYS = (MODEL, RUN, INPUT_GENERATION, INPUT_MD5, MANIFEST_SHA256, EVAL_DATASET, EVAL_EVENT)


@dataclass(frozen=True)
class TrainedOn:
    """What validate_input found and checked: the pinned object, or a batch's manifest."""

    uri: str  # gs://B/N#GEN: the object, or the manifest pinned to its generation
    generation: int
    md5: str | None  # base64, as GCS reports md5Hash; None for a batch (or a composite object)
    size: int | None
    manifest_sha256: str | None  # 64 hex digits; batch runs only
    objects: int  # input objects trained on: 1, or the manifest's count

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainedOn:
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__})


def run_digest(run_id: str) -> str:
    """A label-safe stand-in for the run id (label values: lowercase, <= 63 chars)."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


def evaluated_event_id(model: str, run_id: str) -> str:
    """The model.evaluated ce-id: from (model, run) only, so it is known before the version
    exists (labels are set at upload). A retried run reuses its version, so it stays one event."""
    key = f"evaluated:{model}:{run_id}"
    return "evaluated-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def label_value(text: str) -> str:
    """`text` made a valid label value: lowercased, other characters '-', cut to 63."""
    return _UNSAFE.sub("-", text.lower())[:LABEL_MAX]


def md5_hex(md5_base64: str) -> str:
    """GCS's base64 md5Hash as 32 lowercase hex digits (ValueError when it is no MD5)."""
    try:
        raw = base64.b64decode(md5_base64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"md5 {md5_base64!r} is not base64") from e
    if len(raw) != 16:
        raise ValueError(f"md5 {md5_base64!r} is {len(raw)} bytes, not 16")
    return raw.hex()


def check_labels(labels: Mapping[str, str]) -> None:
    """Raise ValueError naming the first label Google would refuse."""
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            raise ValueError(f"label key {key!r} is invalid")
        if not isinstance(value, str) or not LABEL_VALUE.fullmatch(value):
            raise ValueError(f"label {key!r}: value {value!r} is invalid")


def labels(model: str, run_id: str, trained_on: TrainedOn, dataset_id: str) -> dict[str, str]:
    out = {
        MODEL: label_value(model),
        RUN: run_digest(run_id),
        INPUT_GENERATION: str(trained_on.generation),
        EVAL_DATASET: label_value(dataset_id),
        EVAL_EVENT: evaluated_event_id(model, run_id),
    }
    if trained_on.manifest_sha256 is not None:
        out[MANIFEST_SHA256] = trained_on.manifest_sha256[:32]
    elif trained_on.md5 is not None:
        # Not an MD5 we can restate: the label is left out, the description keeps what GCS said.
        with contextlib.suppress(ValueError):
            out[INPUT_MD5] = md5_hex(trained_on.md5)
    check_labels(out)
    return out


def description(
    model: str, run_id: str, trained_on: TrainedOn, dataset_id: str, artifact_uri: str
) -> str:
    """One line of compact JSON, at most DESCRIPTION_MAX characters, always valid JSON.

    Too long (a long object name or run id): `artifact_uri` goes first (the version carries it
    anyway), then run_id and dataset_id are cut, input_uri last; cut fields are listed in
    `truncated`."""
    body: dict[str, Any] = {
        "run_id": run_id,
        "input_uri": trained_on.uri,
        "input_md5": None if trained_on.manifest_sha256 else trained_on.md5,
        "manifest_sha256": trained_on.manifest_sha256,
        "objects": trained_on.objects,
        "dataset_id": dataset_id,
        "evaluated_event_id": evaluated_event_id(model, run_id),
        "artifact_uri": artifact_uri,
    }
    text = _dumps(body)
    if len(text) <= DESCRIPTION_MAX:
        return text
    body["artifact_uri"] = None
    body["truncated"] = ["artifact_uri"]
    for field in ("run_id", "dataset_id", "input_uri"):
        text = _dumps(body)
        if len(text) <= DESCRIPTION_MAX:
            return text
        body["truncated"].append(field)
        value = str(body[field])
        # Escapes may make one character cost several: cut until it fits or the field is empty.
        while value and len(_dumps(body)) > DESCRIPTION_MAX:
            over = len(_dumps(body)) - DESCRIPTION_MAX
            value = value[: max(0, len(value) - over)]
            body[field] = value
    return _dumps(body)


def _dumps(body: Mapping[str, Any]) -> str:
    # ensure_ascii=False: a non-ASCII object name costs one character, not six.
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
