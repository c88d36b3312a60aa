#!/usr/bin/env bash
# `make e2e`: the end-to-end suite on a developer machine with Docker, kind and skaffold.
# Creates the kind cluster $KIND_CLUSTER (default shop) or reuses it, builds the bundled
# PostgreSQL image (images/postgres) and loads it into kind, builds both services (skaffold.yaml:
# from the repository root, so their images install libs/service-kit) and deploys the
# umbrella chart as release `shop` with `skaffold run -p e2e` (local images loaded into kind, no
# push), then runs tests-e2e (journeys and faults) against that release. The cluster is kept for the
# next run; `kind delete cluster --name shop` removes it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV_BIN:-$PWD/.venv/bin}"
CLUSTER="${KIND_CLUSTER:-shop}"
NAMESPACE="${E2E_NAMESPACE:-shop-e2e}"
RELEASE=shop  # skaffold.yaml's release name

die() { echo "e2e-kind: error: $*" >&2; exit 1; }
for tool in docker kind skaffold kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool not found on PATH (make e2e needs Docker, kind, \
skaffold, kubectl and helm; on a cluster you already have, use 'make e2e-cluster')"
done
docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' failed)"
[ -x "$BIN/pytest" ] || die "$BIN/pytest not found (run 'make install')"

start=$SECONDS
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "==> reusing kind cluster $CLUSTER"
else
  echo "==> creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi
KUBECONFIG="$(mktemp)"
export KUBECONFIG
trap 'rm -f "$KUBECONFIG"' EXIT
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"
echo "    cluster ready in $((SECONDS - start))s"

start=$SECONDS
echo "==> PostgreSQL image (images/postgres) into kind"
docker build --quiet -t postgres-debian:15 images/postgres >/dev/null
kind load docker-image postgres-debian:15 --name "$CLUSTER"
echo "==> skaffold run -p e2e (build, load into kind, helm upgrade --install --wait)"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
skaffold run -p e2e --kube-context "kind-$CLUSTER" --namespace "$NAMESPACE"
echo "    built and deployed in $((SECONDS - start))s"

echo "==> tests-e2e"
"$BIN/pytest" tests-e2e -v --namespace "$NAMESPACE" --release "$RELEASE" "$@"
