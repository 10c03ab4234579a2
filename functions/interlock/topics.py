"""Shared (functions, CLI, local stack, deploy): the topics, and which function each feeds."""

from __future__ import annotations

from interlock.core.kinds import BY_TYPE

DATA = "interlock-data"
EVALUATIONS = "interlock-evaluations"
OBSERVATIONS = "interlock-observations"
REQUESTS = "interlock-requests"
DECISIONS = "interlock-decisions"
DEAD_LETTER = "interlock-dead-letter"
TICKS = "interlock-ticks"  # Cloud Scheduler publishes a tick here every minute
ALERTS = "interlock-alerts"  # a Cloud Monitoring Pub/Sub notification channel publishes here

# topic → the function its push subscription (or Eventarc trigger) delivers to.
SUBSCRIBERS = {
    DATA: "on_data_landed",
    EVALUATIONS: "on_model_evaluated",
    OBSERVATIONS: "on_model_observed",
    REQUESTS: "on_request",
    TICKS: "on_tick",  # re-drives pending events
    ALERTS: "on_alert",  # Cloud Monitoring incidents (schema 1.2)
    DEAD_LETTER: "on_dead_letter",  # records what Pub/Sub gave up on; never dead-lettered itself
}
ALL = (DATA, EVALUATIONS, OBSERVATIONS, REQUESTS, TICKS, ALERTS, DECISIONS, DEAD_LETTER)


_BY_FUNCTION = {function: topic for topic, function in SUBSCRIBERS.items()}


def topic_for(ce_type: str) -> str:
    """Where a published event of `ce_type` goes: the topic of the function that accepts it."""
    kind = BY_TYPE.get(ce_type)
    if kind is None or not kind.own:
        raise ValueError(f"interlock does not publish {ce_type} by hand")
    return _BY_FUNCTION[kind.function]


def path(project: str, topic: str) -> str:
    """Accept a short topic name or a full `projects/P/topics/T` path."""
    return topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}"
