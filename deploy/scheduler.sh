#!/usr/bin/env bash
# The clock of interlock: a Cloud Scheduler job that publishes `dev.interlock.tick.v1` on
# interlock-ticks every minute, for on_tick to re-drive pending events (docs/operations.md 4a).
# Idempotent: created when `describe` does not find it, else updated to the same settings.
#
# A job's message is fixed, so every tick carries the same ce-id and ce-time: harmless, a tick is
# never recorded and has no age. Cloud Scheduler publishes as its own service agent, which
# enabling the API grants Pub/Sub publishing; no interlock identity is involved.
source "$(dirname "$0")/lib.sh"

attributes="ce-specversion=1.0,ce-type=dev.interlock.tick.v1"
attributes="${attributes},ce-source=//cloudscheduler.googleapis.com/${SCHEDULER_JOB}"
attributes="${attributes},ce-id=${SCHEDULER_JOB},ce-time=2026-01-01T00:00:00Z"
body="{\"schedule\":\"${SCHEDULER_JOB}\"}"

if gcloud scheduler jobs describe "${SCHEDULER_JOB}" --location="${REGION}" >/dev/null 2>&1; then
  gcloud scheduler jobs update pubsub "${SCHEDULER_JOB}" --location="${REGION}" \
    --schedule='* * * * *' --time-zone=Etc/UTC --topic="${TOPIC_TICKS}" \
    --message-body="${body}" --update-attributes="${attributes}"
else
  gcloud scheduler jobs create pubsub "${SCHEDULER_JOB}" --location="${REGION}" \
    --schedule='* * * * *' --time-zone=Etc/UTC --topic="${TOPIC_TICKS}" \
    --message-body="${body}" --attributes="${attributes}" \
    --description="interlock: re-drive pending events (on_tick)"
fi
