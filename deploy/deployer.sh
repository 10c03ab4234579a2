#!/usr/bin/env bash
# Run ONCE, by a project owner, before the first `gcloud builds submit`: enables the APIs and
# creates the identity the build runs as (interlock-deployer), with the roles it needs to run
# deploy/*.sh. Kept out of cloudbuild.yaml on purpose: a build must not be able to widen its own
# rights. docs/iam.md ("interlock-deployer") says why each role is needed.
source "$(dirname "$0")/lib.sh"

: "${LANDING_BUCKET:?set LANDING_BUCKET}"
: "${COMPOSER_ENV:?set COMPOSER_ENV}"
: "${AIRFLOW_PASSWORD_SECRET:=interlock-airflow-password}"

SA_DEPLOYER="interlock-deployer@${PROJECT_ID}.iam.gserviceaccount.com"

gcloud services enable \
  aiplatform.googleapis.com artifactregistry.googleapis.com cloudbuild.googleapis.com \
  cloudfunctions.googleapis.com composer.googleapis.com eventarc.googleapis.com \
  cloudscheduler.googleapis.com firestore.googleapis.com iam.googleapis.com pubsub.googleapis.com \
  run.googleapis.com secretmanager.googleapis.com

if gcloud iam service-accounts describe "${SA_DEPLOYER}" >/dev/null 2>&1; then
  log "service account ${SA_DEPLOYER} exists"
else
  gcloud iam service-accounts create interlock-deployer --display-name="interlock deployer (Cloud Build)"
fi

# Setting IAM on the functions' and serving services needs these three, not roles/run.admin.
if gcloud iam roles describe interlock.runIamAdmin --project="${PROJECT_ID}" >/dev/null 2>&1; then
  gcloud iam roles update interlock.runIamAdmin --project="${PROJECT_ID}" >/dev/null \
    --permissions=run.services.get,run.services.getIamPolicy,run.services.setIamPolicy
else
  gcloud iam roles create interlock.runIamAdmin --project="${PROJECT_ID}" >/dev/null \
    --title="interlock: manage IAM on Cloud Run services" --stage=GA \
    --permissions=run.services.get,run.services.getIamPolicy,run.services.setIamPolicy
fi

member="serviceAccount:${SA_DEPLOYER}"
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/cloudfunctions.developer
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/iam.serviceAccountAdmin
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/iam.roleAdmin
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/resourcemanager.projectIamAdmin
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/pubsub.admin
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/datastore.owner
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/eventarc.viewer
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/composer.user
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/logging.logWriter
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role=roles/cloudscheduler.admin
gcloud projects add-iam-policy-binding "${PROJECT_ID}" --condition=None >/dev/null \
  --member="${member}" --role="projects/${PROJECT_ID}/roles/interlock.runIamAdmin"

gcloud storage buckets add-iam-policy-binding "gs://${LANDING_BUCKET}" >/dev/null \
  --member="${member}" --role=roles/storage.admin
dag_prefix="$(gcloud composer environments describe "${COMPOSER_ENV}" --location="${REGION}" \
  --format='value(config.dagGcsPrefix)')"
composer_bucket="${dag_prefix#gs://}"
gcloud storage buckets add-iam-policy-binding "gs://${composer_bucket%%/*}" >/dev/null \
  --member="${member}" --role=roles/storage.objectAdmin
if gcloud secrets describe "${AIRFLOW_PASSWORD_SECRET}" >/dev/null 2>&1; then
  gcloud secrets add-iam-policy-binding "${AIRFLOW_PASSWORD_SECRET}" >/dev/null \
    --member="${member}" --role=roles/secretmanager.admin
fi

log "done: submit builds with --service-account=projects/${PROJECT_ID}/serviceAccounts/${SA_DEPLOYER}"
