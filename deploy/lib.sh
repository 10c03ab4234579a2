#!/usr/bin/env bash
# shellcheck disable=SC2034  # sourced: the names are used by the scripts that source it
# Shared settings for the deploy scripts. Sourced, never run.
#
# Cloud Build passes these from cloudbuild.yaml's substitutions (options.env); an operator exports
# the same names and runs the same scripts. Names of topics and functions are fixed here on
# purpose: functions/interlock/topics.py is the single truth and tests/deploy checks they agree.
set -euo pipefail

: "${PROJECT_ID:?set PROJECT_ID (Cloud Build sets it)}"
: "${REGION:=us-central1}"
: "${FIRESTORE_DATABASE:=(default)}"
: "${MAX_DELIVERY_ATTEMPTS:=10}"

export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_CORE_PROJECT="${PROJECT_ID}"

# functions/interlock/topics.py
TOPIC_DATA="interlock-data"
TOPIC_EVALUATIONS="interlock-evaluations"
TOPIC_OBSERVATIONS="interlock-observations"
TOPIC_REQUESTS="interlock-requests"
TOPIC_DECISIONS="interlock-decisions"
TOPIC_DEAD_LETTER="interlock-dead-letter"
TOPIC_TICKS="interlock-ticks"
# The Cloud Monitoring Pub/Sub notification channel publishes alert incidents here.
TOPIC_ALERTS="interlock-alerts"
# Pull subscription that keeps dead letters for inspection and replay (docs/operations.md).
SUB_DEAD_LETTER_HOLD="interlock-dead-letter-hold"

# One identity per function, so each holds only what its own path needs (docs/iam.md).
SA_DATA_LANDED="interlock-data-landed@${PROJECT_ID}.iam.gserviceaccount.com"
SA_MODEL_EVALUATED="interlock-model-evaluated@${PROJECT_ID}.iam.gserviceaccount.com"
SA_MODEL_OBSERVED="interlock-model-observed@${PROJECT_ID}.iam.gserviceaccount.com"
SA_REQUEST="interlock-request@${PROJECT_ID}.iam.gserviceaccount.com"
# on_dead_letter's account: "-fn-" keeps it from reading like the topic interlock-dead-letter.
SA_DEAD_LETTER="interlock-fn-dead-letter@${PROJECT_ID}.iam.gserviceaccount.com"
# on_tick re-drives pending events of every kind, so it holds what on_request holds.
SA_TICK="interlock-tick@${PROJECT_ID}.iam.gserviceaccount.com"
# on_alert acts on alert incidents (a breach, or a rollback): on_model_observed's reach.
SA_ALERT="interlock-alert@${PROJECT_ID}.iam.gserviceaccount.com"
# Identity Eventarc uses to invoke the functions (only roles/run.invoker on them).
SA_TRIGGER="interlock-trigger@${PROJECT_ID}.iam.gserviceaccount.com"
# Identity Cloud Functions' own build runs as; otherwise it is the default compute account.
SA_BUILDER="interlock-builder@${PROJECT_ID}.iam.gserviceaccount.com"

# Gen2 function names must be lowercase letters, digits and hyphens; entry points keep main.py's names.
FN_DATA_LANDED="interlock-on-data-landed"
FN_MODEL_EVALUATED="interlock-on-model-evaluated"
FN_MODEL_OBSERVED="interlock-on-model-observed"
FN_REQUEST="interlock-on-request"
FN_DEAD_LETTER="interlock-on-dead-letter"
FN_TICK="interlock-on-tick"
FN_ALERT="interlock-on-alert"
# Cloud Scheduler job that publishes the tick every minute (deploy/scheduler.sh).
SCHEDULER_JOB="interlock-tick"
# The functions whose subscriptions dead-letter (to TOPIC_DEAD_LETTER) after MAX_DELIVERY_ATTEMPTS.
DEAD_LETTERING_FUNCTIONS="${FN_DATA_LANDED} ${FN_MODEL_EVALUATED} ${FN_MODEL_OBSERVED} ${FN_REQUEST} ${FN_ALERT}"
# All seven. FN_DEAD_LETTER reads TOPIC_DEAD_LETTER, so its subscription must never dead-letter;
# FN_TICK's neither: a tick it cannot handle is simply replaced by the next one.
FUNCTIONS="${DEAD_LETTERING_FUNCTIONS} ${FN_DEAD_LETTER} ${FN_TICK}"

# Where the Airflow password secret is mounted when Airflow uses password login (not Composer).
AIRFLOW_PASSWORD_FILE="/secrets/airflow/password"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

project_number() {
  gcloud projects describe "${PROJECT_ID}" --format='value(projectNumber)'
}

# The Pub/Sub service agent: dead-letters messages and signs push tokens for Eventarc.
pubsub_agent() {
  echo "service-$(project_number)@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Cloud Monitoring publishes a Pub/Sub notification channel's incidents as this agent.
monitoring_notification_agent() {
  echo "service-$(project_number)@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
}

# "user:" for a person running the scripts, "serviceAccount:" for the Cloud Build identity.
deployer_member() {
  local account
  account="$(gcloud config get account 2>/dev/null)"
  if [[ -z "${account}" ]]; then
    log "no active gcloud account: run 'gcloud auth login' first"
    exit 1
  fi
  if [[ "${account}" == *.gserviceaccount.com ]]; then
    echo "serviceAccount:${account}"
  else
    echo "user:${account}"
  fi
}

# Eventarc creates and names each function's push subscription; this finds it.
trigger_subscription() {
  local function_name="$1" trigger
  trigger="$(gcloud functions describe "${function_name}" --region="${REGION}" \
    --format='value(eventTrigger.trigger)')"
  gcloud eventarc triggers describe "${trigger##*/}" --location="${REGION}" \
    --format='value(transport.pubsub.subscription)'
}
