"""Unit: `interlock.core.google_names` refuses the resource names Google Cloud would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.core.google_names import problems

SERVICE = "projects/demo-project/locations/us-central1/services/"
MODEL = "projects/demo-project/locations/europe-west4/models/"


def models(service: str = SERVICE + "churn", vertex_model: str = MODEL + "churn") -> list[Any]:
    return [{"name": "churn", "service": service, "vertex_model": vertex_model}]


@pytest.mark.parametrize(
    "policy_models",
    [
        models(),
        models(service=SERVICE + "c" * 37),  # 37 + "candidate" = 46
        models(service="projects/123456789012/locations/us-central1/services/churn"),
        models(service="projects/p/locations/l/services/churn"),
        models(vertex_model="projects/example.com:demo/locations/us-central1/models/churn"),
        models(vertex_model=MODEL + "churn_model"),
        models(vertex_model=MODEL + "_x"),
        models(vertex_model=MODEL + "2955453170601426944"),
        models(vertex_model=MODEL + "a" * 63),
        None,
        "not a list",
        [None, 3, {"name": "no names yet"}],
        [{"service": 7, "vertex_model": ["x"]}],
    ],
)
def test_no_problem_when_google_accepts_the_names(policy_models: Any) -> None:
    assert problems(policy_models) == []


@pytest.mark.parametrize(
    ("policy_models", "expected"),
    [
        (models(service=SERVICE + "c" * 38), "models[0].service: service id 'cccccccccccccccccccccccccccccccccccccc' has 38 characters, at most 37"),
        (models(service=SERVICE + "churn-prediction-serving-europe-west4-prod"), "room for interlock's traffic tag 'candidate'"),
        (models(service=SERVICE + "Churn"), "models[0].service: service id 'Churn' is not one Cloud Run accepts"),
        (models(service=SERVICE + "churn-"), "is not one Cloud Run accepts"),
        (models(service=SERVICE + "9churn"), "is not one Cloud Run accepts"),
        (models(service=SERVICE + "c" * 50), "is not one Cloud Run accepts"),
        (models(service=SERVICE), "is not one Cloud Run accepts"),
        (models(service="churn"), "models[0].service: 'churn' is not a Cloud Run service name"),
        (models(service="projects/Demo/locations/us-central1/services/churn"), "not a Cloud Run service name"),
        (models(service="projects/demo-project/locations/Central/services/churn"), "not a Cloud Run service name"),
        (models(service="projects/demo project/locations/us-central1/services/churn"), "not a Cloud Run service name"),
        (models(service=SERVICE + "churn/revisions/x"), "not a Cloud Run service name"),
        (models(vertex_model=MODEL + "9abc"), "models[0].vertex_model: model id '9abc' is not one Vertex AI accepts"),
        (models(vertex_model=MODEL + "-abc"), "is not one Vertex AI accepts"),
        (models(vertex_model=MODEL + "Churn"), "is not one Vertex AI accepts"),
        (models(vertex_model=MODEL + "a" * 64), "is not one Vertex AI accepts"),
        (models(vertex_model=MODEL + "churn@2"), "is not one Vertex AI accepts"),
        (models(vertex_model="projects/demo-project/models/churn"), "models[0].vertex_model: 'projects/demo-project/models/churn' is not a Vertex AI model name"),
        (models(vertex_model="projects/demo-project/locations/us-central1/endpoints/1"), "not a Vertex AI model name"),
    ],
)  # fmt: skip
def test_problem_names_the_field_when_google_would_refuse(
    policy_models: list[Any], expected: str
) -> None:
    found = problems(policy_models)
    assert len(found) == 1
    assert expected in found[0]


def test_every_model_is_checked_when_several_are_wrong() -> None:
    found = problems(
        [
            models()[0],
            {"service": SERVICE + "x" * 40, "vertex_model": MODEL + "9"},
            {"service": "nope", "vertex_model": "nope"},
        ]
    )
    assert [p.split(":")[0] for p in found] == [
        "models[1].service",
        "models[2].service",
        "models[2].vertex_model",
    ]
