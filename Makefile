# The commands of this repository. `make` (or `make help`) lists them.
# Every target that needs Python sets up .venv itself, so on a fresh clone `make run` and
# `make test` are the only two commands needed.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := $(CURDIR)/.tools/bin
SHARED ?= $(CURDIR)/../shared
export SHARED_DIR := $(SHARED)
export PATH := $(BIN):$(TOOLS):$(PATH)
export PACT_DO_NOT_TRACK := true

HOST ?= 127.0.0.1
USER_PORT ?= 8001
ORDER_PORT ?= 8002
GIT_SHA ?= $(shell git rev-parse HEAD 2>/dev/null || echo dev)
GIT_BRANCH ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo local)
export GIT_SHA GIT_BRANCH
PYTEST := $(BIN)/pytest

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

KIT := libs/service-kit

$(STAMP): constraints.txt requirements-dev.txt $(KIT)/pyproject.toml \
  user-service/pyproject.toml order-service/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11+ is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt \
	  -e ./$(KIT) -e ./user-service -e ./order-service -r requirements-dev.txt
	touch $@

.PHONY: install
install: $(STAMP) ## Create .venv with the service kit, both services (editable) and the dev tools

.PHONY: lock
lock: ## Re-pin constraints.txt from a fresh resolve of the declared dependencies
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e ./$(KIT) -e ./user-service -e ./order-service \
	  -r requirements-dev.txt
	{ echo "# Pinned versions for the dev environment; regenerate with 'make lock'."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt
	rm -rf .lock-venv

.PHONY: run
run: $(STAMP) ## Run both services on 127.0.0.1 (embedded PostgreSQL, data in .data/, unless *_DATABASE_URL is set); Ctrl-C stops all
	HOST=$(HOST) USER_PORT=$(USER_PORT) ORDER_PORT=$(ORDER_PORT) scripts/run-local.sh both

.PHONY: run-user
run-user: $(STAMP) ## Run user-service alone (e.g. to restart it while order-service keeps running)
	HOST=$(HOST) USER_PORT=$(USER_PORT) ORDER_PORT=$(ORDER_PORT) scripts/run-local.sh user

.PHONY: run-order
run-order: $(STAMP) ## Run order-service alone (it finds user-service at 127.0.0.1:$(USER_PORT))
	HOST=$(HOST) USER_PORT=$(USER_PORT) ORDER_PORT=$(ORDER_PORT) scripts/run-local.sh order

.PHONY: tools
tools: $(STAMP) ## Check (and where possible install) helm and kubectl, the chart and manifest tests' tools
	scripts/ensure-tools.sh "$(TOOLS)" "$(SHARED)"

SKAFFOLD_VERSION ?= v2.19.0
.PHONY: skaffold-tool
skaffold-tool: ## skaffold $(SKAFFOLD_VERSION): the one on PATH, else built into .tools/bin (../shared/tools/get-skaffold)
	@if [ "$$(SKAFFOLD_UPDATE_CHECK=false skaffold version 2>/dev/null)" = "$(SKAFFOLD_VERSION)" ]; then \
	  echo "skaffold $(SKAFFOLD_VERSION): $$(command -v skaffold)"; \
	elif [ -x "$(SHARED)/tools/get-skaffold" ]; then \
	  SKAFFOLD_VERSION=$(SKAFFOLD_VERSION) "$(SHARED)/tools/get-skaffold" "$(TOOLS)"; \
	else \
	  echo "error: skaffold $(SKAFFOLD_VERSION) not found: install it (https://skaffold.dev/docs/install/) or set SHARED to the folder with tools/get-skaffold"; exit 1; \
	fi

.PHONY: test
test: $(STAMP) tools ## All local tests: unit, integration (PostgreSQL), contracts, charts, manifests, local e2e
	$(PYTEST) -q -m "not skaffold"
	scripts/e2e-local.sh -q

.PHONY: test-unit
test-unit: $(STAMP) ## Unit tests only (seconds, no I/O)
	$(PYTEST) -q $(KIT)/tests/unit user-service/tests/unit order-service/tests/unit \
	  tests/test_app_wiring.py

ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := $(TOOLS)/actionlint
SHELL_SCRIPTS = $(shell git ls-files '*.sh' .ci/run)
DOCKERFILES = $(shell git ls-files '*Dockerfile')

# actionlint is a Go module (its own releases are on GitHub, which this machine cannot reach).
$(ACTIONLINT):
	@command -v go >/dev/null || { echo "error: go not found: actionlint is built with 'go install' (https://go.dev/dl/)"; exit 1; }
	GOBIN=$(TOOLS) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

.PHONY: lint
lint: $(STAMP) $(ACTIONLINT) ## ruff, mypy --strict, shellcheck, hadolint and actionlint over the whole repository
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(KIT)/src user-service/src order-service/src bench devtools
	$(BIN)/shellcheck $(SHELL_SCRIPTS)
	$(BIN)/hadolint $(DOCKERFILES)
	SHELLCHECK_OPTS= $(ACTIONLINT) -shellcheck $(BIN)/shellcheck

.PHONY: fmt
fmt: $(STAMP) ## Format and auto-fix with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: generate
generate: $(STAMP) tools ## Regenerate what has one source elsewhere: values.schema.json (helm/common's base + each service's part), k8s/ (helm template)
	$(BIN)/python scripts/generate.py

.PHONY: pact
pact: $(STAMP) ## Consumer contract tests: rewrite pacts/ (commit them); publish when a broker is configured
	PACT_OUTPUT_DIR=pacts $(PYTEST) -q order-service/tests/contract
	scripts/pact-broker.sh publish-pacts

.PHONY: verify-pacts
verify-pacts: $(STAMP) ## Provider verification of the pacts against the real user-service
	scripts/pact-broker.sh verify

.PHONY: can-i-deploy
can-i-deploy: $(STAMP) ## ENV=...: may this commit go there? (broker, else the local contract tests)
	@[ -n "$(ENV)" ] || { echo "usage: make can-i-deploy ENV=<environment>"; exit 2; }
	scripts/pact-broker.sh can-i-deploy "$(ENV)"

.PHONY: record-deployment
record-deployment: $(STAMP) ## ENV=...: record this commit of both services as deployed there
	@[ -n "$(ENV)" ] || { echo "usage: make record-deployment ENV=<environment>"; exit 2; }
	scripts/pact-broker.sh record-deployment "$(ENV)"

BASE_IMAGE ?= python:3.11-slim
NS ?= shop
E2E_DELETE ?= 0

.PHONY: images
images: skaffold-tool ## Build every image of skaffold.yaml (tag: git sha) with $DOCKER_HOST, never pushed
	BASE_IMAGE=$(BASE_IMAGE) skaffold build -p local

.PHONY: deploy
deploy: tools skaffold-tool ## Build and deploy the whole system (release shop) to NS of the current kube-context with skaffold
	BASE_IMAGE=$(BASE_IMAGE) skaffold run -p local --namespace $(NS)

.PHONY: bench
bench: $(STAMP) ## The floor, the peer (template-style) and every endpoint side by side, targets (wrk; ~5 min; ARGS="--check", "--before main")
	@command -v wrk >/dev/null || { echo "error: wrk not found (Debian: apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench.run bench $(ARGS)

.PHONY: faults
faults: $(STAMP) ## Fault drills through a fault-injecting proxy; fails if a drill misses its target (~1.5 min)
	$(BIN)/python -m bench.run faults $(ARGS)

# kind-offline (beside the repository, like get-helm) builds kind's node image where no image
# registry answers; without it, make e2e uses the stock kindest/node (Docker and kind needed).
KIND_OFFLINE ?= $(wildcard $(SHARED)/tools/kind-offline/kind-offline)
.PHONY: e2e
e2e: $(STAMP) tools skaffold-tool ## On a new kind cluster (Kubernetes 1.35): skaffold build, deploy, helm test, verify (tests-e2e), NetworkPolicies, dev loop; then deleted
	BASE_IMAGE=$(BASE_IMAGE) KIND_OFFLINE=$(KIND_OFFLINE) PYTHON=$(BIN)/python scripts/e2e-kind.sh

.PHONY: e2e-cluster
e2e-cluster: $(STAMP) tools skaffold-tool ## The same on the cluster of KUBE_CONTEXT/KUBECONFIG whose node runs $DOCKER_HOST's engine
	BASE_IMAGE=$(BASE_IMAGE) E2E_DELETE=$(E2E_DELETE) scripts/e2e-cluster.sh

.PHONY: dev-loop-test
dev-loop-test: $(STAMP) tools skaffold-tool ## skaffold dev -p dev on the current cluster: sync, reload, no redeploy, cleanup; prints the inner loop
	BASE_IMAGE=$(BASE_IMAGE) $(BIN)/python scripts/dev_loop_test.py

.PHONY: test-skaffold
test-skaffold: $(STAMP) tools skaffold-tool ## skaffold itself: render (schema + policies), diagnose (needs the skaffold binary)
	$(PYTEST) -q -m skaffold tests/packaging

.PHONY: e2e-local
e2e-local: $(STAMP) ## End-to-end journeys against both services as local processes
	scripts/e2e-local.sh

# The hostile suite's settings, for the services and the suite alike: a login table a flood
# outgrows in seconds and a lockout that outlasts the flood, the default per-client budget, a
# short header timeout, X-Forwarded-For honoured from 127.0.0.1 only.
HOSTILE_ENV := USER_SERVICE_LOGIN_TABLE_SIZE=100 USER_SERVICE_LOGIN_LOCKOUT=300 \
  USER_SERVICE_CLIENT_RATE=1 USER_SERVICE_CLIENT_BURST=20 \
  USER_SERVICE_HEADER_TIMEOUT=2 ORDER_SERVICE_HEADER_TIMEOUT=2 \
  USER_SERVICE_TRUSTED_PROXIES=127.0.0.1 ORDER_SERVICE_TRUSTED_PROXIES=127.0.0.1

.PHONY: hostile
hostile: $(STAMP) ## Hostile-client suite on local processes: floods, huge and slow headers, malformed input; prints figures, fails on a threshold (~2 min)
	$(HOSTILE_ENV) scripts/e2e-local.sh -q -m hostile
