"""Contract layer: the topic each event travels on — one list for the CLI, the local stack and deploy."""

from __future__ import annotations

from interlock.core.events import PREFIX

DATA = "interlock-data"
EVALUATIONS = "interlock-evaluations"
OBSERVATIONS = "interlock-observations"
REQUESTS = "interlock-requests"
DECISIONS = "interlock-decisions"
DEAD_LETTER = "interlock-dead-letter"

# topic → the function its push subscription (or Eventarc trigger) delivers to.
SUBSCRIBERS = {
    DATA: "on_data_landed",
    EVALUATIONS: "on_model_evaluated",
    OBSERVATIONS: "on_model_observed",
    REQUESTS: "on_request",
    DEAD_LETTER: "on_dead_letter",  # records what Pub/Sub gave up on; never dead-lettered itself
}
ALL = (DATA, EVALUATIONS, OBSERVATIONS, REQUESTS, DECISIONS, DEAD_LETTER)


def topic_for(ce_type: str) -> str:
    """Where a published event of `ce_type` goes."""
    if ce_type == PREFIX + "model.evaluated.v1":
        return EVALUATIONS
    if ce_type == PREFIX + "model.observed.v1":
        return OBSERVATIONS
    if ce_type.endswith(".requested.v1"):
        return REQUESTS
    raise ValueError(f"interlock does not publish {ce_type} by hand")
