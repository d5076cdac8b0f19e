#!/bin/sh
# Roll out a release: the migration Job to completion first, then everything else.
#   IMAGE=registry.example/fintech-bff:1.2.3 deploy/rollout.sh
set -eu
here=$(dirname "$0")/kubernetes
image=${IMAGE:?set IMAGE to the image to deploy}
kubectl delete job bff-migrate --ignore-not-found
sed "s|fintech-bff:latest|$image|" "$here/configmap.yaml" "$here/migrate-job.yaml" | kubectl apply -f -
kubectl wait --for=condition=complete --timeout=900s job/bff-migrate
for manifest in "$here"/*.yaml; do
  sed "s|fintech-bff:latest|$image|" "$manifest"
  echo ---
done | kubectl apply -f -
kubectl rollout status deployment/bff --timeout=600s
