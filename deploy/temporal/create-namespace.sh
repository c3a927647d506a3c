#!/bin/sh
# One-shot: registers the engine's namespace once the server answers (the server image
# registers none). Safe to run again: an existing namespace is left as it is.
set -eu

: "${TEMPORAL_ADDRESS:?}"
NAMESPACE="${DEFAULT_NAMESPACE:-default}"
RETENTION="${DEFAULT_NAMESPACE_RETENTION:-168h}"

attempt=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
    --retention "$RETENTION"
  echo "namespace $NAMESPACE created (retention $RETENTION)"
fi
