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
run: $(STAMP) ## Run both services on 127.0.0.1 (embedded SQLite unless *_DATABASE_URL is set); Ctrl-C stops both
	HOST=$(HOST) USER_PORT=$(USER_PORT) ORDER_PORT=$(ORDER_PORT) scripts/run-local.sh both

.PHONY: run-user
run-user: $(STAMP) ## Run user-service alone (e.g. to restart it while order-service keeps running)
	HOST=$(HOST) USER_PORT=$(USER_PORT) ORDER_PORT=$(ORDER_PORT) scripts/run-local.sh user

.PHONY: run-order
run-order: $(STAMP) ## Run order-service alone (it finds user-service at 127.0.0.1:$(USER_PORT))
	HOST=$(HOST) USER_PORT=$(USER_PORT) ORDER_PORT=$(ORDER_PORT) scripts/run-local.sh order

.PHONY: tools
tools: $(STAMP) ## Check (and where possible install) helm, kubectl and the PostgreSQL binaries the tests use
	scripts/ensure-tools.sh "$(TOOLS)" "$(SHARED)"

.PHONY: test
test: $(STAMP) tools ## All local tests: unit, integration (PostgreSQL), contracts, charts, manifests, local e2e
	$(PYTEST) -q
	scripts/e2e-local.sh -q

.PHONY: test-unit
test-unit: $(STAMP) ## Unit tests only (seconds, no I/O)
	$(PYTEST) -q $(KIT)/tests/unit user-service/tests/unit order-service/tests/unit \
	  tests/test_app_wiring.py

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check) and mypy --strict over the whole repository
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(KIT)/src user-service/src order-service/src bench devtools

.PHONY: fmt
fmt: $(STAMP) ## Format and auto-fix with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

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
RELEASE ?= shop

.PHONY: images
images: ## Build the two service images (tag: git sha) and the PostgreSQL image with $DOCKER_HOST
	# A service's build context is the repository root (its image installs libs/ too);
	# .dockerignore keeps that context to the few files the Dockerfiles copy.
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t user-service:$(GIT_SHA) \
	  -f user-service/Dockerfile .
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t order-service:$(GIT_SHA) \
	  -f order-service/Dockerfile .
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t postgres-debian:15 images/postgres

.PHONY: deploy
deploy: tools ## Install or upgrade the whole system (umbrella chart) in NS, then run helm test
	helm/build-dependencies.sh
	helm upgrade --install $(RELEASE) helm/shop -n $(NS) --create-namespace \
	  --set global.imageTag=$(GIT_SHA) --wait --timeout 5m
	helm test $(RELEASE) -n $(NS)

.PHONY: bench
bench: $(STAMP) ## Benchmarks: every endpoint against a Starlette baseline, table + JSON (wrk; ~1.5 min)
	@command -v wrk >/dev/null || { echo "error: wrk not found (Debian: apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench.run bench

.PHONY: faults
faults: $(STAMP) ## Fault drills through a fault-injecting proxy; fails if a drill misses its target (~1.5 min)
	$(BIN)/python -m bench.run faults

.PHONY: e2e
e2e: $(STAMP) ## End-to-end on kind (needs Docker, kind, skaffold): cluster, skaffold run -p e2e, tests-e2e
	scripts/e2e-kind.sh

.PHONY: e2e-cluster
e2e-cluster: $(STAMP) tools ## End-to-end, faults included, on the cluster in KUBECONFIG (images built with DOCKER_HOST, BASE_IMAGE)
	BASE_IMAGE=$(BASE_IMAGE) scripts/e2e-cluster.sh

.PHONY: e2e-local
e2e-local: $(STAMP) ## End-to-end journeys against both services as local processes
	scripts/e2e-local.sh
