#!/usr/bin/env bash
# `make e2e-cluster`: the end-to-end suite against the existing cluster in KUBECONFIG.
#
# 1. builds user-service, order-service and the bundled PostgreSQL images with the Docker engine
#    the environment gives (DOCKER_HOST), FROM ${BASE_IMAGE:-python:3.11-slim}, tagged with the
#    git sha (the PostgreSQL image with its build context's tree hash: it rarely changes);
# 2. `helm upgrade --install --wait` of the umbrella chart helm/shop as release $E2E_RELEASE in
#    namespace $E2E_NAMESPACE, with those tags and values for a cluster without a registry;
# 3. runs tests-e2e against that release (journeys and faults).
# It creates nothing else: no cluster, no registry; images stay in that Docker engine, which must
# be the one the cluster's nodes run (k8s-sandbox, minikube's docker-env, a one-node cluster).
# Each stage prints its time. Extra arguments go to pytest.
#
# Settings (environment): KUBECONFIG, DOCKER_HOST, BASE_IMAGE, E2E_NAMESPACE (shop-e2e),
# E2E_RELEASE (e2e), E2E_IMAGE_TAG (git sha), E2E_SKIP_BUILD=1 (images already there),
# E2E_HELM_TIMEOUT (6m), E2E_VALUES (an extra values file), HELM, KUBECTL, DOCKER.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
HELM="${HELM:-helm}" KUBECTL="${KUBECTL:-kubectl}" DOCKER="${DOCKER:-docker}"
BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
NAMESPACE="${E2E_NAMESPACE:-shop-e2e}"
RELEASE="${E2E_RELEASE:-e2e}"
HELM_TIMEOUT="${E2E_HELM_TIMEOUT:-6m}"
ARTIFACTS="${E2E_ARTIFACTS:-$ROOT/.e2e-artifacts}"
mkdir -p "$ARTIFACTS"
POSTGRES_CONTEXT=images/postgres
POSTGRES_REPOSITORY=postgres-debian

die() { echo "e2e-cluster: error: $*" >&2; exit 1; }
for tool in "$HELM" "$KUBECTL" "$DOCKER" git; do
  command -v "$tool" >/dev/null || die "$tool not found on PATH"
done
[ -x "$BIN/pytest" ] || die "$BIN/pytest not found (run 'make install')"
[ -n "${KUBECONFIG:-}" ] || [ -f "$HOME/.kube/config" ] || die "no cluster: set KUBECONFIG"
"$KUBECTL" version --request-timeout=10s >/dev/null 2>&1 \
  || die "the cluster in ${KUBECONFIG:-~/.kube/config} does not answer ('$KUBECTL version' failed)"

sha=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain -- libs user-service order-service $POSTGRES_CONTEXT helm)" ]; then
  echo "e2e-cluster: warning: uncommitted changes; images tagged $sha contain them" >&2
fi
TAG="${E2E_IMAGE_TAG:-$sha}"
PG_TAG="15-$(git rev-parse --short=12 "HEAD:$POSTGRES_CONTEXT" 2>/dev/null || echo "$TAG")"

declare -a timings=()
stage() {  # stage NAME COMMAND...: run it, remember how long it took
  local name=$1 start=$SECONDS
  shift
  echo "==> $name"
  "$@"
  timings+=("$(printf '%-28s %4ds' "$name" $((SECONDS - start)))")
}
report() {
  local rc=$?
  echo "==> stage times"
  [ ${#timings[@]} = 0 ] || printf '    %s\n' "${timings[@]}"
  [ "$rc" = 0 ] || echo "e2e-cluster: failed (status $rc); what was saved is in $ARTIFACTS" >&2
}
trap report EXIT

build() {  # build IMAGE DOCKERFILE CONTEXT
  local image=$1 dockerfile=$2 context=$3 start=$SECONDS
  local log="$ARTIFACTS/build-${image%%:*}.log"
  if ! "$DOCKER" build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$image" -f "$dockerfile" "$context" \
    >"$log" 2>&1; then
    tail -40 "$log" >&2
    die "building $image failed (whole log: $log)"
  fi
  echo "    built $image ($((SECONDS - start))s)"
}
build_images() {
  # The services build from the repository root (they install libs/service-kit; .dockerignore
  # keeps the context small); PostgreSQL from its own folder.
  build "user-service:$TAG" user-service/Dockerfile .
  build "order-service:$TAG" order-service/Dockerfile .
  build "$POSTGRES_REPOSITORY:$PG_TAG" "$POSTGRES_CONTEXT/Dockerfile" "$POSTGRES_CONTEXT"
}

deploy() {
  helm/build-dependencies.sh
  local -a values=(
    --set "global.imageTag=$TAG"
    --set "user-service.postgresql.image.repository=$POSTGRES_REPOSITORY"
    --set "user-service.postgresql.image.tag=$PG_TAG"
    --set "order-service.postgresql.image.repository=$POSTGRES_REPOSITORY"
    --set "order-service.postgresql.image.tag=$PG_TAG"
  )
  [ -z "${E2E_VALUES:-}" ] || values+=(--values "$E2E_VALUES")
  if ! "$HELM" upgrade --install "$RELEASE" helm/shop --namespace "$NAMESPACE" --create-namespace \
    --wait --timeout "$HELM_TIMEOUT" "${values[@]}"; then
    dump_namespace "$ARTIFACTS/deploy"
    die "helm upgrade --install failed; pods, events and logs in $ARTIFACTS/deploy"
  fi
}

dump_namespace() {  # what a reader of a failed deploy needs, also printed in short
  local dir=$1 k=("$KUBECTL" --namespace "$NAMESPACE")
  mkdir -p "$dir"
  "${k[@]}" get all,pvc,events -o wide >"$dir/get.txt" 2>&1 || true
  "${k[@]}" describe pods >"$dir/describe-pods.txt" 2>&1 || true
  for pod in $("${k[@]}" get pods -o name 2>/dev/null); do
    "${k[@]}" logs "$pod" --all-containers --prefix --tail=200 >"$dir/${pod#pod/}.log" 2>&1 || true
  done
  "${k[@]}" get pods -o wide >&2 || true
}

if [ "${E2E_SKIP_BUILD:-0}" = 1 ]; then
  echo "==> images: not built (E2E_SKIP_BUILD=1), expecting *:$TAG in the cluster's engine"
else
  stage "image builds ($TAG)" build_images
fi
stage "deploy (helm upgrade --wait)" deploy
# The traces test needs the services to export to the test run's receiver, which they cannot
# reach while pytest runs here behind port-forwards: it runs where the suite runs in the cluster
# (a pod, see tests-e2e/conftest.py), and locally in `make e2e-local`.
echo "==> tests-e2e without the traces test (-m 'not traces'): the pods cannot reach this host"
stage "tests (tests-e2e)" "$BIN/pytest" tests-e2e -v --namespace "$NAMESPACE" --release "$RELEASE" \
  -m "not traces" "$@"
