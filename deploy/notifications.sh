#!/usr/bin/env bash
# GCS → Pub/Sub notification: every object finalized in the landing bucket becomes a message on
# the data topic, which feeds on_data_landed like every other function (see docs/operations.md
# for why this and not an Eventarc Cloud Storage trigger). Idempotent: a bucket may hold several
# notifications to one topic, each delivering every event again, so create only when none exists.
source "$(dirname "$0")/lib.sh"

: "${LANDING_BUCKET:?set LANDING_BUCKET}"
: "${LANDING_PREFIX:=}"

topic="projects/${PROJECT_ID}/topics/${TOPIC_DATA}"
existing="$(gcloud storage buckets notifications list "gs://${LANDING_BUCKET}" --format=json)"
if grep -q "${topic}\"" <<<"${existing}"; then
  log "gs://${LANDING_BUCKET} already notifies ${TOPIC_DATA}"
  exit 0
fi

prefix_flag=()
if [[ -n "${LANDING_PREFIX}" ]]; then
  prefix_flag=(--object-prefix="${LANDING_PREFIX}")
fi
# --skip-topic-setup: the topic and its publisher grant come from topics.sh and iam.sh, so the
# grant stays topic-level and documented in docs/iam.md.
gcloud storage buckets notifications create "gs://${LANDING_BUCKET}" \
  --topic="${topic}" \
  --event-types=OBJECT_FINALIZE \
  --payload-format=json \
  --skip-topic-setup \
  "${prefix_flag[@]}"
