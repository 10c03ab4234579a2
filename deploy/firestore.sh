#!/usr/bin/env bash
# The decision ledger: a Firestore (native mode) database and the one composite index the ledger
# needs (adapters/ledger_firestore.py: decisions of one subject, newest first, for `status`).
# Idempotent: each is created only when it cannot be found.
source "$(dirname "$0")/lib.sh"

: "${FIRESTORE_LOCATION:=nam5}"

if gcloud firestore databases describe --database="${FIRESTORE_DATABASE}" >/dev/null 2>&1; then
  log "Firestore database ${FIRESTORE_DATABASE} exists"
else
  # Delete protection: the ledger is the audit trail of every decision.
  gcloud firestore databases create --database="${FIRESTORE_DATABASE}" \
    --location="${FIRESTORE_LOCATION}" --type=firestore-native --delete-protection
fi

found="$(gcloud firestore indexes composite list --database="${FIRESTORE_DATABASE}" \
  --filter='name~/collectionGroups/interlock_decisions/ AND fields.fieldPath:subject AND fields.fieldPath:decided_at' \
  --format='value(name)')"
if [[ -n "${found}" ]]; then
  log "index on interlock_decisions (subject, decided_at) exists"
else
  # --async: building the index takes minutes and nothing in the deploy waits for it.
  gcloud firestore indexes composite create --database="${FIRESTORE_DATABASE}" \
    --collection-group=interlock_decisions --query-scope=COLLECTION \
    --field-config=field-path=subject,order=ascending \
    --field-config=field-path=decided_at,order=descending \
    --async
fi
