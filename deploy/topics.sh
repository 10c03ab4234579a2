#!/usr/bin/env bash
# Pub/Sub topics of functions/interlock/topics.py, and the subscription that holds dead letters.
# Idempotent: each resource is created only when `describe` does not find it.
#
# The six functions' push subscriptions are created by Eventarc at deploy time (--trigger-topic);
# functions.sh gives them their retry and dead-letter policies. The dead-letter topic therefore
# has two subscriptions, and each gets every dead letter: on_dead_letter's (records a final
# ledger state) and interlock-dead-letter-hold below (keeps the message to inspect and replay).
source "$(dirname "$0")/lib.sh"

for topic in "${TOPIC_DATA}" "${TOPIC_EVALUATIONS}" "${TOPIC_OBSERVATIONS}" \
  "${TOPIC_REQUESTS}" "${TOPIC_DECISIONS}" "${TOPIC_DEAD_LETTER}" "${TOPIC_TICKS}" \
  "${TOPIC_ALERTS}"; do
  if gcloud pubsub topics describe "${topic}" >/dev/null 2>&1; then
    log "topic ${topic} exists"
  else
    # Seven days of retention lets an operator seek a subscription back after a bad deploy.
    gcloud pubsub topics create "${topic}" --message-retention-duration=7d
  fi
done

# Dead letters are the evidence of what failed: keep them 7 days and never let the subscription
# expire. It has a retry policy but no dead-letter policy of its own: a dead letter of a dead
# letter has nowhere better to go, and a nack here just means "look again later".
if gcloud pubsub subscriptions describe "${SUB_DEAD_LETTER_HOLD}" >/dev/null 2>&1; then
  log "subscription ${SUB_DEAD_LETTER_HOLD} exists"
else
  gcloud pubsub subscriptions create "${SUB_DEAD_LETTER_HOLD}" \
    --topic="${TOPIC_DEAD_LETTER}" \
    --ack-deadline=60 \
    --message-retention-duration=7d \
    --expiration-period=never \
    --min-retry-delay=10s \
    --max-retry-delay=600s
fi
