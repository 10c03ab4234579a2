#!/usr/bin/env bash
# Audit and notifications, the Google way (docs/operations.md, "Watching decisions"):
#   - when DECISIONS_DATASET is set, a BigQuery subscription archives every outcome published on
#     the decisions topic (one row per message, metadata columns included) into
#     DECISIONS_DATASET.decisions, so "what served at time T" is one query;
#   - the log-based alert policies of deploy/alerts/ (rolled back, needs a human, awaiting
#     approval), for any Monitoring notification channel (NOTIFICATION_CHANNELS, comma-separated).
# Idempotent: each resource is created only when it is not found.
source "$(dirname "$0")/lib.sh"

: "${DECISIONS_DATASET:=}"
: "${NOTIFICATION_CHANNELS:=}"
SUB_DECISIONS_BQ="interlock-decisions-bq"

if [[ -n "${DECISIONS_DATASET}" ]]; then
  table="${PROJECT_ID}:${DECISIONS_DATASET}.decisions"
  bq --project_id="${PROJECT_ID}" show "${DECISIONS_DATASET}" >/dev/null 2>&1 ||
    bq --project_id="${PROJECT_ID}" mk --dataset --location="${REGION}" "${DECISIONS_DATASET}"
  # The --write-metadata layout: the message body (the outcome's JSON) and Pub/Sub's metadata.
  bq --project_id="${PROJECT_ID}" show "${table}" >/dev/null 2>&1 ||
    bq --project_id="${PROJECT_ID}" mk --table --time_partitioning_field=publish_time "${table}" \
      subscription_name:STRING,message_id:STRING,publish_time:TIMESTAMP,data:JSON,attributes:JSON
  # Pub/Sub writes the rows as its service agent.
  bq --project_id="${PROJECT_ID}" add-iam-policy-binding \
    --member="serviceAccount:$(pubsub_agent)" --role=roles/bigquery.dataEditor "${table}" >/dev/null
  if gcloud pubsub subscriptions describe "${SUB_DECISIONS_BQ}" >/dev/null 2>&1; then
    log "subscription ${SUB_DECISIONS_BQ} exists"
  else
    gcloud pubsub subscriptions create "${SUB_DECISIONS_BQ}" \
      --topic="${TOPIC_DECISIONS}" \
      --bigquery-table="${table}" \
      --write-metadata \
      --expiration-period=never \
      --min-retry-delay=10s \
      --max-retry-delay=600s \
      --dead-letter-topic="projects/${PROJECT_ID}/topics/${TOPIC_DEAD_LETTER}" \
      --max-delivery-attempts="${MAX_DELIVERY_ATTEMPTS}"
  fi
fi

existing="$(gcloud alpha monitoring policies list --format='value(displayName)')"
for file in "$(dirname "$0")"/alerts/*.json; do
  name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["displayName"])' "${file}")"
  if grep -qxF "${name}" <<<"${existing}"; then
    log "alert policy ${name} exists"
  elif [[ -n "${NOTIFICATION_CHANNELS}" ]]; then
    gcloud alpha monitoring policies create --policy-from-file="${file}" \
      --notification-channels="${NOTIFICATION_CHANNELS}"
  else
    gcloud alpha monitoring policies create --policy-from-file="${file}"
  fi
done
