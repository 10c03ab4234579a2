#!/usr/bin/env bash
# Least-privilege identities for interlock: one service account per function, custom roles where
# the predefined ones are too wide, and bindings at the narrowest scope the API supports.
# docs/iam.md is the table of every grant below, with the reason; tests/deploy keeps them equal.
#
#   deploy/iam.sh identities   before the functions are deployed (accounts, roles, bindings)
#   deploy/iam.sh triggers     after they are deployed (invoker on each function, dead-lettering)
#
# Idempotent: accounts and roles are created only when `describe` fails; IAM bindings are
# add-only (adding an existing binding changes nothing). Nothing here ever removes a grant.
source "$(dirname "$0")/lib.sh"

: "${SERVING_SERVICES:?set SERVING_SERVICES: the Cloud Run services of interlock.yaml, comma-separated}"
: "${LANDING_BUCKET:?set LANDING_BUCKET: the bucket the pipelines land in}"
: "${AIRFLOW_USERNAME:=}"
: "${AIRFLOW_PASSWORD_SECRET:=interlock-airflow-password}"

ensure_account() {
  local email="$1" title="$2"
  if gcloud iam service-accounts describe "${email}" >/dev/null 2>&1; then
    log "service account ${email} exists"
  else
    gcloud iam service-accounts create "${email%%@*}" --display-name="${title}"
  fi
}

# Custom roles converge on the listed permissions: created when absent, updated when present
# (so removing a permission here removes it in the project), undeleted when soft-deleted.
ensure_role() {
  local id="$1" title="$2" permissions="$3" deleted
  deleted="$(gcloud iam roles describe "${id}" --project="${PROJECT_ID}" \
    --format='value(deleted)' 2>/dev/null || echo absent)"
  if [[ "${deleted}" == "absent" ]]; then
    gcloud iam roles create "${id}" --project="${PROJECT_ID}" --title="${title}" \
      --permissions="${permissions}" --stage=GA >/dev/null
  else
    if [[ "${deleted}" == "True" ]]; then
      gcloud iam roles undelete "${id}" --project="${PROJECT_ID}" >/dev/null
    fi
    gcloud iam roles update "${id}" --project="${PROJECT_ID}" --title="${title}" \
      --permissions="${permissions}" --stage=GA >/dev/null
  fi
}

identities() {
  ensure_account "${SA_DATA_LANDED}" "interlock on_data_landed"
  ensure_account "${SA_MODEL_EVALUATED}" "interlock on_model_evaluated"
  ensure_account "${SA_MODEL_OBSERVED}" "interlock on_model_observed"
  ensure_account "${SA_REQUEST}" "interlock on_request"
  ensure_account "${SA_DEAD_LETTER}" "interlock on_dead_letter"
  ensure_account "${SA_TICK}" "interlock on_tick (re-drives pending events)"
  ensure_account "${SA_ALERT}" "interlock on_alert (Cloud Monitoring incidents)"
  ensure_account "${SA_TRIGGER}" "interlock Eventarc trigger (invokes the functions)"
  ensure_account "${SA_BUILDER}" "interlock function builds"

  # Vertex AI has no per-model IAM: the narrowest grant is a project role with exactly the calls
  # the adapter makes (get a version, merge its aliases) and not roles/aiplatform.user's hundreds.
  ensure_role interlock.modelAliasMover "interlock: read model versions, move aliases" \
    "aiplatform.models.get,aiplatform.models.update"
  # Granted on each serving service only (below), never on the project.
  ensure_role interlock.servingRouter "interlock: create revisions, split traffic" \
    "run.services.get,run.services.update,run.revisions.get"
  # A Cloud Run operation is a child of the location, not of the service, so a service-level
  # binding cannot let the adapter poll the operation its own update started.
  ensure_role interlock.runOperationReader "interlock: poll Cloud Run operations" \
    "run.operations.get"
  # A batch window's close lists the partition (strongly consistent), reads and writes its
  # manifest create-only: no delete, no overwrite (storage.objects.update/delete left out).
  ensure_role interlock.batchManifests "interlock: list landed objects, write batch manifests" \
    "storage.objects.list,storage.objects.get,storage.objects.create"

  local role_alias="projects/${PROJECT_ID}/roles/interlock.modelAliasMover"
  local role_ops="projects/${PROJECT_ID}/roles/interlock.runOperationReader"
  local role_router="projects/${PROJECT_ID}/roles/interlock.servingRouter"

  # --- the decision ledger: every function reads and commits state (Firestore has no
  # collection-level IAM, so the project is the narrowest scope).
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_DATA_LANDED}" --role=roles/datastore.user
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_MODEL_EVALUATED}" --role=roles/datastore.user
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_MODEL_OBSERVED}" --role=roles/datastore.user
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_REQUEST}" --role=roles/datastore.user
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_DEAD_LETTER}" --role=roles/datastore.user
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_TICK}" --role=roles/datastore.user
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_ALERT}" --role=roles/datastore.user

  # --- the observer (a chore of on_tick) reads Cloud Run's request metrics: timeSeries.list
  # needs monitoring.timeSeries.list, which no narrower predefined role holds; project-level,
  # as Monitoring has no resource-level IAM. Only the tick's identity reads metrics.
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_TICK}" --role=roles/monitoring.viewer

  # --- batch windows close where a landing (sentinel, max_objects), a manual close or the tick
  # (quiet, max_wait) closes them: on the landing bucket only.
  local role_manifests="projects/${PROJECT_ID}/roles/interlock.batchManifests"
  for sa in "${SA_DATA_LANDED}" "${SA_REQUEST}" "${SA_TICK}"; do
    gcloud storage buckets add-iam-policy-binding "gs://${LANDING_BUCKET}" >/dev/null \
      --member="serviceAccount:${sa}" --role="${role_manifests}"
  done

  # --- the deciding functions (and the tick that re-drives them) publish their outcome and their
  # dead letters; topic-level.
  for sa in "${SA_DATA_LANDED}" "${SA_MODEL_EVALUATED}" "${SA_MODEL_OBSERVED}" "${SA_REQUEST}" \
    "${SA_TICK}" "${SA_ALERT}"; do
    gcloud pubsub topics add-iam-policy-binding "${TOPIC_DECISIONS}" >/dev/null \
      --member="serviceAccount:${sa}" --role=roles/pubsub.publisher
    gcloud pubsub topics add-iam-policy-binding "${TOPIC_DEAD_LETTER}" >/dev/null \
      --member="serviceAccount:${sa}" --role=roles/pubsub.publisher
  done
  # on_dead_letter publishes the dead_lettered outcome and nothing else: never to the dead-letter
  # topic it reads (that would loop), so it gets no publisher grant there.
  gcloud pubsub topics add-iam-policy-binding "${TOPIC_DECISIONS}" >/dev/null \
    --member="serviceAccount:${SA_DEAD_LETTER}" --role=roles/pubsub.publisher

  # --- Airflow: on_data_landed and on_request (manual `trigger`) start DAG runs.
  if [[ -n "${AIRFLOW_USERNAME}" ]]; then
    # Password login (a self-managed Airflow 2 or 3): the one secret, to the two functions
    # using it, and no Composer role.
    gcloud secrets add-iam-policy-binding "${AIRFLOW_PASSWORD_SECRET}" >/dev/null \
      --member="serviceAccount:${SA_DATA_LANDED}" --role=roles/secretmanager.secretAccessor
    gcloud secrets add-iam-policy-binding "${AIRFLOW_PASSWORD_SECRET}" >/dev/null \
      --member="serviceAccount:${SA_REQUEST}" --role=roles/secretmanager.secretAccessor
    gcloud secrets add-iam-policy-binding "${AIRFLOW_PASSWORD_SECRET}" >/dev/null \
      --member="serviceAccount:${SA_TICK}" --role=roles/secretmanager.secretAccessor
  else
    # Cloud Composer, Gen 2 or 3, Airflow 2 or 3: composer.user lets the Google identity reach
    # the Airflow web server and its REST API; what it may do there is the Airflow role of
    # docs/iam.md ("Airflow side"). Nothing else is granted for Airflow.
    gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
      --member="serviceAccount:${SA_DATA_LANDED}" --role=roles/composer.user
    gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
      --member="serviceAccount:${SA_REQUEST}" --role=roles/composer.user
    gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
      --member="serviceAccount:${SA_TICK}" --role=roles/composer.user
  fi

  # --- Vertex AI aliases and Cloud Run traffic: the functions that promote or roll back (an
  # alert incident may roll back), and the tick, which re-drives their pending events.
  for sa in "${SA_MODEL_EVALUATED}" "${SA_MODEL_OBSERVED}" "${SA_REQUEST}" "${SA_TICK}" \
    "${SA_ALERT}"; do
    gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
      --member="serviceAccount:${sa}" --role="${role_alias}"
    gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
      --member="serviceAccount:${sa}" --role="${role_ops}"
  done
  local service runtime_sa
  for service in ${SERVING_SERVICES//,/ }; do
    if ! runtime_sa="$(gcloud run services describe "${service}" --region="${REGION}" \
      --format='value(spec.template.spec.serviceAccountName)' 2>/dev/null)"; then
      # interlock never creates the serving service (its first revision is the model team's);
      # the next run of this script binds it once it exists.
      log "WARNING: Cloud Run service ${service} not found in ${REGION}: its bindings are skipped"
      continue
    fi
    for sa in "${SA_MODEL_EVALUATED}" "${SA_MODEL_OBSERVED}" "${SA_REQUEST}" "${SA_TICK}" \
      "${SA_ALERT}"; do
      gcloud run services add-iam-policy-binding "${service}" --region="${REGION}" >/dev/null \
        --member="serviceAccount:${sa}" --role="${role_router}"
    done
    # The pre-traffic smoke check (`canary.smoke`) calls the candidate's tag URL with an ID
    # token: the functions that start a canary (and the tick re-driving them) invoke it.
    for sa in "${SA_MODEL_EVALUATED}" "${SA_REQUEST}" "${SA_TICK}"; do
      gcloud run services add-iam-policy-binding "${service}" --region="${REGION}" >/dev/null \
        --member="serviceAccount:${sa}" --role=roles/run.invoker
    done
    if [[ -z "${runtime_sa}" ]]; then
      log "WARNING: ${service} runs as the default compute service account; give it its own"
      runtime_sa="$(project_number)-compute@developer.gserviceaccount.com"
    fi
    # A new revision (or a traffic change, which rewrites the whole service) runs as the
    # service's runtime identity: acting as it is needed, on that one account only.
    for sa in "${SA_MODEL_EVALUATED}" "${SA_MODEL_OBSERVED}" "${SA_REQUEST}" "${SA_TICK}" \
      "${SA_ALERT}"; do
      gcloud iam service-accounts add-iam-policy-binding "${runtime_sa}" >/dev/null \
        --member="serviceAccount:${sa}" --role=roles/iam.serviceAccountUser
    done
  done

  # --- GCS publishes OBJECT_FINALIZE notifications to the data topic, and only there.
  local gcs_agent
  gcs_agent="$(gcloud storage service-agent --project="${PROJECT_ID}")"
  gcloud pubsub topics add-iam-policy-binding "${TOPIC_DATA}" >/dev/null \
    --member="serviceAccount:${gcs_agent}" --role=roles/pubsub.publisher

  # --- a Cloud Monitoring Pub/Sub notification channel publishes as Monitoring's notification
  # service agent: on the alerts topic only.
  gcloud pubsub topics add-iam-policy-binding "${TOPIC_ALERTS}" >/dev/null \
    --member="serviceAccount:$(monitoring_notification_agent)" --role=roles/pubsub.publisher

  # --- Pub/Sub signs the push requests to the functions with the trigger account's token.
  gcloud iam service-accounts add-iam-policy-binding "${SA_TRIGGER}" >/dev/null \
    --member="serviceAccount:$(pubsub_agent)" --role=roles/iam.serviceAccountTokenCreator

  # --- the builder: Cloud Functions builds the source as this account, not the compute default.
  gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
    --member="serviceAccount:${SA_BUILDER}" --role=roles/cloudbuild.builds.builder

  # --- whoever deploys (the Cloud Build identity, or an operator) must act as the accounts it
  # deploys functions with; granted per account rather than project-wide.
  local deployer
  deployer="$(deployer_member)"
  for sa in "${SA_DATA_LANDED}" "${SA_MODEL_EVALUATED}" "${SA_MODEL_OBSERVED}" "${SA_REQUEST}" \
    "${SA_DEAD_LETTER}" "${SA_TICK}" "${SA_ALERT}" "${SA_TRIGGER}" "${SA_BUILDER}"; do
    gcloud iam service-accounts add-iam-policy-binding "${sa}" >/dev/null \
      --member="${deployer}" --role=roles/iam.serviceAccountUser
  done
}

triggers() {
  local agent fn subscription
  agent="$(pubsub_agent)"
  # The Pub/Sub service agent moves an undeliverable message to the dead-letter topic: it must
  # publish there and acknowledge on the source subscription.
  gcloud pubsub topics add-iam-policy-binding "${TOPIC_DEAD_LETTER}" >/dev/null \
    --member="serviceAccount:${agent}" --role=roles/pubsub.publisher
  for fn in ${FUNCTIONS}; do
    # Eventarc pushes as the trigger account; it may invoke these six functions and nothing else.
    # The agent's subscriber grant is what dead-lettering needs; on on_dead_letter's subscription
    # (no dead-letter policy) it is unused and kept only so every trigger is set up alike.
    gcloud functions add-invoker-policy-binding "${fn}" --region="${REGION}" >/dev/null \
      --member="serviceAccount:${SA_TRIGGER}"
    subscription="$(trigger_subscription "${fn}")"
    gcloud pubsub subscriptions add-iam-policy-binding "${subscription##*/}" >/dev/null \
      --member="serviceAccount:${agent}" --role=roles/pubsub.subscriber
  done
}

case "${1:-}" in
  identities) identities ;;
  triggers) triggers ;;
  *)
    echo "usage: $0 identities|triggers" >&2
    exit 2
    ;;
esac
