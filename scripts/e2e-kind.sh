#!/usr/bin/env bash
# `make e2e`: the end-to-end suite on a developer machine (or GitHub's runner) with Docker, kind
# and skaffold. Creates the kind cluster $KIND_CLUSTER (default shop) or reuses it, then runs
# scripts/e2e-cluster.sh against its context: the same skaffold path (build, deploy, verify) as
# CI on the k8s sandbox; skaffold loads the images into kind's node itself. The cluster is kept
# for the next run; `kind delete cluster --name shop` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER="${KIND_CLUSTER:-shop}"

die() { echo "e2e-kind: error: $*" >&2; exit 1; }
for tool in docker kind skaffold kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool not found on PATH (make e2e needs Docker, kind, \
skaffold, kubectl and helm; on a cluster you already have, use 'make e2e-cluster')"
done
docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' failed)"

start=$SECONDS
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "==> reusing kind cluster $CLUSTER"
else
  echo "==> creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi
echo "    cluster ready in $((SECONDS - start))s"
KUBE_CONTEXT="kind-$CLUSTER" exec scripts/e2e-cluster.sh "$@"
