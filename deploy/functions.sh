#!/usr/bin/env bash
# The seven Cloud Functions (gen2), each with its own service account, fed by its Pub/Sub topic
# through an Eventarc trigger; then the retry and dead-letter policy of each trigger's
# subscription (on_dead_letter's: retry only, see the end). Idempotent: a deploy of unchanged
# source converges to the same function, and --set-env-vars / --set-secrets replace (not merge),
# so removed settings really go away.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

: "${POLICY_FILE:=interlock.yaml}"
: "${AIRFLOW_URL:=}"
: "${AIRFLOW_API:=auto}"
: "${AIRFLOW_USERNAME:=}"
: "${AIRFLOW_PASSWORD_SECRET:=interlock-airflow-password}"
: "${COMPOSER_ENV:=}"

# bootstrap.DEFAULT_POLICY is interlock.yaml beside main.py, i.e. in the uploaded source.
cp "${POLICY_FILE}" functions/interlock.yaml

case "${AIRFLOW_API}" in
  auto | v1 | v2) ;;
  *) log "AIRFLOW_API is '${AIRFLOW_API}': expected auto, v1 (Airflow 2) or v2 (Airflow 3)"; exit 1 ;;
esac

if [[ -z "${AIRFLOW_URL}" ]]; then
  # Gen 2 and Gen 3 both publish their Airflow web server (and REST API) URL here, whichever
  # Airflow version the environment runs.
  : "${COMPOSER_ENV:?set AIRFLOW_URL or COMPOSER_ENV (whose Airflow web server URL is used)}"
  AIRFLOW_URL="$(gcloud composer environments describe "${COMPOSER_ENV}" --location="${REGION}" \
    --format='value(config.airflowUri)')"
  if [[ -z "${AIRFLOW_URL}" ]]; then
    log "Composer environment ${COMPOSER_ENV} in ${REGION} has no Airflow URL (is it running?)"
    exit 1
  fi
  image="$(gcloud composer environments describe "${COMPOSER_ENV}" --location="${REGION}" \
    --format='value(config.softwareConfig.imageVersion)')"
  log "Composer ${COMPOSER_ENV}: image ${image}, Airflow at ${AIRFLOW_URL} (REST API ${AIRFLOW_API})"
fi

# Every name set here is one functions/interlock/bootstrap.py documents (tests/deploy checks it;
# docs/operations.md lists them all).
env_ledger="INTERLOCK_PROJECT=${PROJECT_ID},INTERLOCK_REGION=${REGION},INTERLOCK_LEDGER=firestore"
env_ledger="${env_ledger},INTERLOCK_FIRESTORE_DATABASE=${FIRESTORE_DATABASE}"
env_ledger="${env_ledger},INTERLOCK_DECISIONS_TOPIC=${TOPIC_DECISIONS}"
# on_dead_letter gets env_ledger only: it never publishes to the dead-letter topic.
env_common="${env_ledger},INTERLOCK_DEAD_LETTER_TOPIC=${TOPIC_DEAD_LETTER}"

if [[ -n "${AIRFLOW_USERNAME}" ]]; then
  # Self-managed Airflow with password login (a JWT on Airflow 3, basic auth on Airflow 2). The
  # password stays in Secret Manager and is mounted as a file, which the adapter re-reads at
  # each sign-in: a rotated secret is picked up without a redeploy (an env var secret is fixed
  # when the instance starts).
  if ! gcloud secrets describe "${AIRFLOW_PASSWORD_SECRET}" >/dev/null 2>&1; then
    log "secret ${AIRFLOW_PASSWORD_SECRET} is missing; create it (docs/operations.md), then rerun"
    exit 1
  fi
  env_airflow="INTERLOCK_AIRFLOW_URL=${AIRFLOW_URL},INTERLOCK_AIRFLOW_API=${AIRFLOW_API},AIRFLOW_USERNAME=${AIRFLOW_USERNAME},AIRFLOW_PASSWORD_FILE=${AIRFLOW_PASSWORD_FILE}"
  airflow_secrets="--set-secrets=${AIRFLOW_PASSWORD_FILE}=${AIRFLOW_PASSWORD_SECRET}:latest"
else
  # Cloud Composer (Gen 2 or 3, Airflow 2 or 3): no password at all, the function's own Google
  # identity signs in with an OAuth access token (cloud-platform scope).
  env_airflow="INTERLOCK_AIRFLOW_URL=${AIRFLOW_URL},INTERLOCK_AIRFLOW_API=${AIRFLOW_API}"
  airflow_secrets="--clear-secrets"
fi
build_sa="projects/${PROJECT_ID}/serviceAccounts/${SA_BUILDER}"

# Event-driven gen2 functions time out at 540 s at most. The Cloud Run paths wait for a revision
# to become ready, so they get the maximum; a landing only calls Airflow (30 s read timeout).
deploy_data_landed() {
  gcloud functions deploy "${FN_DATA_LANDED}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_data_landed \
    --trigger-topic="${TOPIC_DATA}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_DATA_LANDED}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=120s --memory=512Mi --cpu=1 \
    --min-instances=0 --max-instances=20 \
    --set-env-vars="${env_common},${env_airflow}" "${airflow_secrets}"
}

deploy_model_evaluated() {
  gcloud functions deploy "${FN_MODEL_EVALUATED}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_model_evaluated \
    --trigger-topic="${TOPIC_EVALUATIONS}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_MODEL_EVALUATED}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=540s --memory=512Mi --cpu=1 \
    --min-instances=0 --max-instances=5 \
    --set-env-vars="${env_common}"
}

# The rollback path: one warm instance, so a breach is acted on without a cold start.
deploy_model_observed() {
  gcloud functions deploy "${FN_MODEL_OBSERVED}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_model_observed \
    --trigger-topic="${TOPIC_OBSERVATIONS}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_MODEL_OBSERVED}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=540s --memory=512Mi --cpu=1 \
    --min-instances=1 --max-instances=5 \
    --set-env-vars="${env_common}"
}

deploy_request() {
  gcloud functions deploy "${FN_REQUEST}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_request \
    --trigger-topic="${TOPIC_REQUESTS}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_REQUEST}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=540s --memory=512Mi --cpu=1 \
    --min-instances=0 --max-instances=5 \
    --set-env-vars="${env_common},${env_airflow}" "${airflow_secrets}"
}

# Fed every message on the dead-letter topic. It records a final `dead_lettered` outcome for what
# Pub/Sub gave up on (a ledger write and one publish to the decisions topic), so 60 s and the
# smallest memory that loads the Firestore and Pub/Sub clients are plenty. No Airflow, no secret.
deploy_dead_letter() {
  gcloud functions deploy "${FN_DEAD_LETTER}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_dead_letter \
    --trigger-topic="${TOPIC_DEAD_LETTER}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_DEAD_LETTER}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=60s --memory=256Mi --cpu=1 \
    --min-instances=0 --max-instances=5 \
    --set-env-vars="${env_ledger}"
}

# Every minute (Cloud Scheduler, deploy/scheduler.sh): re-drives pending events of any kind
# (docs/operations.md 4a), so it has on_request's environment and identity's reach. A tick works
# for at most INTERLOCK_TICK_BUDGET_S (40 s) plus one item; 120 s bounds it. One instance at a
# time is enough: ticks are a minute apart and concurrent ones would only race harmlessly.
deploy_tick() {
  gcloud functions deploy "${FN_TICK}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_tick \
    --trigger-topic="${TOPIC_TICKS}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_TICK}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=120s --memory=512Mi --cpu=1 \
    --min-instances=0 --max-instances=1 \
    --set-env-vars="${env_common},${env_airflow}" "${airflow_secrets}"
}

# Cloud Monitoring incidents from the Pub/Sub notification channel (docs/operations.md): an open
# one on a serving revision may roll back, so on_model_observed's timeout; no warm instance, the
# observer (on_tick) is the primary signal and an incident is already minutes old.
deploy_alert() {
  gcloud functions deploy "${FN_ALERT}" --gen2 --region="${REGION}" --runtime=python311 \
    --source=functions --entry-point=on_alert \
    --trigger-topic="${TOPIC_ALERTS}" --trigger-service-account="${SA_TRIGGER}" --retry \
    --service-account="${SA_ALERT}" --build-service-account="${build_sa}" \
    --ingress-settings=internal-only --timeout=540s --memory=512Mi --cpu=1 \
    --min-instances=0 --max-instances=5 \
    --set-env-vars="${env_common}"
}

# Seven builds in parallel: each takes minutes, and they share nothing.
pids=()
deploy_data_landed & pids+=("$!")
deploy_model_evaluated & pids+=("$!")
deploy_model_observed & pids+=("$!")
deploy_request & pids+=("$!")
deploy_dead_letter & pids+=("$!")
deploy_tick & pids+=("$!")
deploy_alert & pids+=("$!")
failed=0
for pid in "${pids[@]}"; do
  wait "${pid}" || failed=1
done
if [[ "${failed}" -ne 0 ]]; then
  log "at least one function failed to deploy (see above)"
  exit 1
fi

# Eventarc owns each function's subscription but lets us set its policies. Exponential backoff
# (10 s … 600 s) keeps a transient outage from being hammered; after MAX_DELIVERY_ATTEMPTS the
# message goes to the dead-letter topic instead of being retried for the 7-day retention.
for fn in ${DEAD_LETTERING_FUNCTIONS}; do
  subscription="$(trigger_subscription "${fn}")"
  gcloud pubsub subscriptions update "${subscription}" \
    --dead-letter-topic="projects/${PROJECT_ID}/topics/${TOPIC_DEAD_LETTER}" \
    --max-delivery-attempts="${MAX_DELIVERY_ATTEMPTS}" \
    --min-retry-delay=10s \
    --max-retry-delay=600s
done

# on_dead_letter reads the dead-letter topic: a dead-letter policy on its subscription would send
# its own failures back to the topic it reads, i.e. to itself. Same backoff, and the policy is
# cleared explicitly so the subscription converges even if someone added one by hand. A message
# it cannot record is retried until the subscription's retention ends; interlock-dead-letter-hold
# keeps its own copy for 7 days either way.
subscription="$(trigger_subscription "${FN_DEAD_LETTER}")"
gcloud pubsub subscriptions update "${subscription}" \
  --clear-dead-letter-policy \
  --min-retry-delay=10s \
  --max-retry-delay=600s

# on_tick's subscription: no dead-letter policy either (a tick is not evidence of anything, and
# the next one comes a minute later); the same backoff, cleared explicitly so it converges.
subscription="$(trigger_subscription "${FN_TICK}")"
gcloud pubsub subscriptions update "${subscription}" \
  --clear-dead-letter-policy \
  --min-retry-delay=10s \
  --max-retry-delay=600s
