#!/usr/bin/env bash
# Sync the repository's DAGs into the Composer environment's bucket, under dags/interlock/.
# The subfolder lets --delete-unmatched-destination-objects remove a DAG deleted here without
# touching DAGs other teams keep in the same environment. rsync is naturally idempotent.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

: "${COMPOSER_ENV:?set COMPOSER_ENV}"

# No DAGs in this checkout: syncing would delete the deployed ones, so do nothing.
if [[ ! -d dags ]] || [[ -z "$(ls -A dags)" ]]; then
  log "no DAGs under dags/: nothing synced"
  exit 0
fi

dag_prefix="$(gcloud composer environments describe "${COMPOSER_ENV}" --location="${REGION}" \
  --format='value(config.dagGcsPrefix)')"
if [[ -z "${dag_prefix}" ]]; then
  log "Composer environment ${COMPOSER_ENV} in ${REGION} has no DAG bucket"
  exit 1
fi
gcloud storage rsync dags "${dag_prefix}/interlock" \
  --recursive --delete-unmatched-destination-objects \
  --exclude='(^|.*/)__pycache__/.*|.*\.pyc$'
