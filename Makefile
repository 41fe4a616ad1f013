# Strongroom developer commands. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY313      := $(shell scripts/python313)
ifeq ($(PY313),)
  $(error python3.13 is required (see scripts/python313))
endif
PY313_DIR  := $(dir $(PY313))
VENV       := .venv
SAM_VENV   := .venv-sam
PY         := $(VENV)/bin/python
SAM        := $(SAM_VENV)/bin/sam
export PATH := $(PY313_DIR):$(PATH)
export SAM_CLI_TELEMETRY := 0
# Linters and tests never reach a real AWS account.
export AWS_DEFAULT_REGION ?= us-east-1
# samconfig.toml environment used by `make deploy` (dev or prod).
CONFIG_ENV ?= dev

# The gate is ordered (lint, OpenAPI drift and conformance, tests, fuzz, build) and stops at the first failure,
# even under `make -j`.
.NOTPARALLEL:

# The test tiers (docs/design.md, "Tests"). pytest exits 5 when it collects nothing: that is a
# failure here, as any non-zero status is. The stack tiers run their files across pytest-xdist
# workers (one per core; each worker process embeds its own stack); `PYTEST_WORKERS=0` runs them
# in this process. `make coverage` adds branch coverage of the layer (COVERAGE), appended across tiers.
PYTEST         := $(PY) -m pytest -q -p no:cacheprovider
PYTEST_WORKERS ?= auto
XDIST          := -n $(PYTEST_WORKERS) --dist loadfile
# The HTTP tier's tests also wait (for the purge, webhook and sealing workers, for subprocesses,
# for a browser): one worker more than there are cores keeps the CPU busy meanwhile.
HTTP_WORKERS   ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$((n + 1)))
HTTP_XDIST     := -n $(if $(filter 0,$(PYTEST_WORKERS)),0,$(HTTP_WORKERS)) --dist loadfile
COVERAGE       :=

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

# uv installs the pinned requirements in seconds where pip takes a minute and a half on a fresh
# machine (docs/decisions.md, "The gate installs with uv"); pip only installs uv itself.
UV_VERSION := 0.13.9
UV         := $(VENV)/bin/uv

$(VENV)/.installed: requirements-dev.txt layers/strongroom/requirements.txt functions/billing/requirements.txt functions/health/requirements.txt functions/rotation/requirements.txt functions/sync_worker/requirements.txt
	test -x $(PY) || $(PY313) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt $(VENV)/.installed
	test -x $(SAM_VENV)/bin/python || $(PY313) -m venv $(SAM_VENV)
	$(UV) pip install --quiet --python $(SAM_VENV)/bin/python -r requirements-sam.txt
	touch $@

venv: $(VENV)/.installed $(SAM_VENV)/.installed  ## Create both virtualenvs (dev tools; SAM CLI apart)

# The real peers the HTTP tests talk to, from committed lock files: panva's oidc-provider (npm), the
# OpenID Provider single sign-on signs in against (tests/http_api/test_sso_oidc.py).
OIDC_PEER := tests/peers/oidc/node_modules/.package-lock.json
$(OIDC_PEER): tests/peers/oidc/package.json tests/peers/oidc/package-lock.json
	cd tests/peers/oidc && npm ci --no-audit --no-fund --loglevel=error

# GitHub's published REST API description (@octokit/openapi, npm), which the GitHub Actions test server
# holds every sync request to (tests/github_peer.py, tests/http_api/test_integrations.py).
GITHUB_PEER := tests/peers/github/node_modules/.package-lock.json
$(GITHUB_PEER): tests/peers/github/package.json tests/peers/github/package-lock.json
	cd tests/peers/github && npm ci --no-audit --no-fund --loglevel=error

peers: $(OIDC_PEER) $(GITHUB_PEER)  ## Install the real peers the HTTP tests use (npm ci from committed lock files)

# The web console's front-end dependencies (Pico CSS) from the committed lock file, vendored into
# the console function's static files (committed, so `sam build` needs no npm); the check fails
# when the vendored copies drifted from the lock.
CONSOLE_NPM := console/node_modules/.package-lock.json
$(CONSOLE_NPM): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error

console: $(CONSOLE_NPM) $(VENV)/.installed  ## npm ci the console's dependencies and vendor them into functions/console
	$(PY) scripts/vendor_console.py --write

console-check: $(CONSOLE_NPM) $(VENV)/.installed
	$(PY) scripts/vendor_console.py --check

# Debian packages the tests drive as real peers: Chromium for the console's browser tests
# (Playwright with Debian's Chromium; browser downloads are not available) and promtool (Debian's
# prometheus package) for /metrics' exposition (tests/http_api/test_platform.py), and PostgreSQL's server
# for the postgres rotator (tests/pg_server.py starts a throwaway cluster). Installed with apt when
# missing; `make test` starts the install first (apt-start) and waits for it only before the HTTP
# tier, so the download overlaps lint and the first tiers.
APT_PACKAGES := chromium prometheus postgresql
apt-start:
	scripts/apt_packages.sh start $(APT_PACKAGES)

chromium:  ## Install Debian's Chromium and promtool (APT_PACKAGES) for the tests, with apt, when missing
	scripts/apt_packages.sh wait $(APT_PACKAGES)

promtool: chromium  ## The same install (promtool comes with APT_PACKAGES)

postgresql: chromium  ## The same install (PostgreSQL's server, for the rotation tests, comes with APT_PACKAGES)

run: $(VENV)/.installed  ## Serve the API locally on embedded moto (http://127.0.0.1:3000; data in .strongroom/, RUN_ARGS=--ephemeral keeps none)
	PYTHONPATH=local:layers/strongroom $(PY) -m strongroom_local $(RUN_ARGS)

lint: venv  ## ruff (C90 at 10), mypy (layer, CLI, functions, local), import cycles, cfn-lint, sam validate --lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/import_cycles.py
	$(VENV)/bin/cfn-lint template.yaml --include-checks I
	$(SAM) validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

openapi: $(VENV)/.installed  ## Regenerate docs/openapi.json from the resolvers
	$(PY) scripts/openapi.py --write

# Drift of the document from the code, then drift of the running API from the document: every
# documented operation's success path, driven over HTTP against the local stack, answers what the
# document says (status, media type, body schema, required headers). `test-http` runs it too.
openapi-check: $(VENV)/.installed $(OIDC_PEER) $(GITHUB_PEER)  ## Fail if docs/openapi.json drifted from the code/template or from real responses
	$(PY) scripts/openapi.py --check
	$(PYTEST) $(COVERAGE) tests/http_api/test_openapi_conformance.py

test-unit: $(VENV)/.installed  ## Unit tier: tests/unit (no stack, ~30 s)
	$(PYTEST) $(XDIST) $(COVERAGE) tests/unit

test-integration: $(VENV)/.installed  ## Integration tier: tests/integration (handlers in-process on the embedded stack)
	$(PYTEST) $(XDIST) $(COVERAGE) tests/integration

# `make test` has run the conformance suite in openapi-check already: HTTP_SKIP keeps it from running twice.
HTTP_SKIP :=
test-http: $(VENV)/.installed $(OIDC_PEER) $(GITHUB_PEER) console-check chromium  ## HTTP tier: tests/http_api and tests/cli (real sockets, the CLI as a process)
	$(PYTEST) $(HTTP_XDIST) $(COVERAGE) $(HTTP_SKIP) tests/http_api tests/cli

coverage-erase: $(VENV)/.installed
	$(PY) -m coverage erase

fuzz: $(VENV)/.installed  ## schemathesis against the local stack
	$(PY) scripts/fuzz.py

build: $(SAM_VENV)/.installed  ## sam build (no containers; arm64 wheels for the layer)
	$(SAM) build --template template.yaml

# sam build takes ~15 s from scratch (less when cached), so the gate includes it. Branch coverage
# of the layer (every tier, every xdist worker and the local server's threads) costs about a third
# more time in every tier, which the 15-minute gate cannot carry: `make coverage` runs the same tiers
# under it and prints the report (docs/decisions.md, "the gate runs without coverage").
test: HTTP_SKIP := --ignore=tests/http_api/test_openapi_conformance.py
test: apt-start lint openapi-check test-unit test-integration test-http fuzz build  ## Everything CI runs (lint, OpenAPI drift, the three tiers, fuzz, sam build)

coverage: COVERAGE := --cov --cov-append --cov-report=
coverage: HTTP_SKIP := --ignore=tests/http_api/test_openapi_conformance.py
coverage: apt-start coverage-erase openapi-check test-unit test-integration test-http  ## The tiers under branch coverage of the layer, then its report
	$(PY) -m coverage report

bench: $(VENV)/.installed  ## Benchmarks that print figures
	$(PY) bench/cold_import.py
	$(PY) bench/pull.py
	$(PY) bench/write.py
	$(PY) bench/cli_run.py
	$(PY) bench/cli_watch.py
	$(PY) bench/fanout.py
	$(PY) bench/audit_chain.py
	$(PY) bench/request_cost.py

deploy: build  ## sam deploy with samconfig.toml's CONFIG_ENV (dev|prod); DEPLOY_ARGS=--guided the first time
	$(SAM) deploy --config-env $(CONFIG_ENV) $(DEPLOY_ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*

.PHONY: help venv peers console console-check apt-start chromium promtool postgresql run lint openapi openapi-check test-unit test-integration test-http coverage-erase coverage fuzz build test bench deploy clean
