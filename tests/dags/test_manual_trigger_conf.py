"""DAG contract: the conf a manual trigger starts a run with is one the DAG itself accepts.

Both confs — a routed landing's and a manual trigger's — come from the repo's own policy and go
through the DAG's own `parse_conf`, exactly as the run's first task does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from interlock.core.dispatch import decide
from interlock.core.errors import PermanentError
from interlock.core.events import DataLanded, TriggerRequested
from interlock.core.inbound import Inbound
from interlock.core.policy_load import load_policy
from interlock.core.state import ModelState
from tests.builders import NOW

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
if str(DAGS) not in sys.path:
    sys.path.append(str(DAGS))

from interlock_dag.inputs import parse_conf  # noqa: E402

POLICY = load_policy(yaml.safe_load((REPO / "interlock.yaml").read_text()))
URI = "gs://interlock-landing/churn/incoming/day.csv#1717171717"


def _conf(payload: object) -> dict:
    event = Inbound(id="e", type="t", source="s", time=NOW, payload=payload)
    (effect,) = decide(event, POLICY, ModelState(), NOW).effects
    return dict(effect.conf)


def test_manual_trigger_conf_is_accepted_by_the_dag_when_it_names_a_pipeline_object():
    conf = _conf(TriggerRequested(request_id="r-1", pipeline="churn-training", object_uri=URI))
    model, pinned = parse_conf(conf)
    assert (model, pinned.uri, pinned.generation) == ("churn", URI, 1717171717)


def test_manual_and_routed_confs_are_the_same_run_request_when_they_name_one_object():
    landed = DataLanded(
        bucket="interlock-landing", name="churn/incoming/day.csv", generation=1717171717
    )
    routed = _conf(landed)
    manual = _conf(TriggerRequested(request_id="r-2", pipeline="churn-training", object_uri=URI))
    assert parse_conf(routed)[0] == parse_conf(manual)[0]
    # Provenance differs (which delivery or request asked); nothing else does (this landing
    # announced no md5 or size, as a manual request cannot).
    assert {k: v for k, v in manual.items() if k != "event_id"} == {
        k: v for k, v in routed.items() if k != "event_id"
    }


@pytest.mark.parametrize(
    "uri",
    [
        "gs://interlock-landing/other/day.csv#5",  # outside the pipeline's prefix
        "gs://interlock-landing/churn/incoming/day.parquet#5",  # not the pipeline's glob
    ],
    ids=["prefix", "glob"],
)
def test_manual_trigger_is_refused_when_the_object_is_not_one_of_the_pipeline(uri):
    request = TriggerRequested(request_id="r-3", pipeline="churn-training", object_uri=uri)
    with pytest.raises(PermanentError, match="is not an object of pipeline churn-training"):
        _conf(request)
