# The two commands a newcomer needs (see README):
#   make demo   — local Kafka + PostgreSQL when none are configured, the pipeline, a demo scenario
#   make test   — lint, type-check and the whole test suite against real servers
# Everything else here is what those two need. Nothing is assumed to be installed or running.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit native tools compose-plugin up down clean

# `docker compose config` validates docker-compose.yml without an engine; where a docker client
# has no compose plugin, build the pinned one from the Go module proxy (client only, ~3 min once).
COMPOSE_VERSION := v2.40.3
COMPOSE_PLUGIN  := $(HOME)/.docker/cli-plugins/docker-compose

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "alertpipe needs Python 3.11+")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing pinned dependencies into $(VENV) …"
	@$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Stage 1's per-event loop compiled with mypyc into build/native/ (docs/design.md record 47):
# rebuilt when the sources change, a no-op otherwise; without it the same modules run as Python.
native: $(STAMP)
	@$(BIN)/python -c 'from streams.aggregate.native import build; build()'

# OS packages the tests run: kcat (librdkafka's CLI) produces like a non-Python service would;
# prometheus-alertmanager is the real Alertmanager that hands its alerts to alertpipe; Debian's
# Chromium is the browser the dashboard's tests drive (through Playwright, which never
# downloads one of its own); gcc compiles what `native` generates. Each as command:package.
OS_TOOLS := kcat:kcat prometheus-alertmanager:prometheus-alertmanager chromium:chromium gcc:gcc

tools:
	@for tool in $(OS_TOOLS); do \
	  command="$${tool%%:*}"; package="$${tool#*:}"; \
	  command -v "$$command" >/dev/null 2>&1 && continue; \
	  echo "setup: installing $$package from the OS packages …"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q "$$package" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "$$package" >/dev/null; }; \
	  else sudo apt-get install -y -q "$$package" >/dev/null || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q "$$package" >/dev/null; }; fi || exit 1; \
	done

compose-plugin:
	@if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1 \
	    && command -v go >/dev/null 2>&1; then \
	  echo "setup: building the docker compose plugin $(COMPOSE_VERSION) with Go (first run only) …"; \
	  src=$$(go mod download -json github.com/docker/compose/v2@$(COMPOSE_VERSION) \
	         | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') && \
	  work=$$(mktemp -d) && cp -r "$$src/." "$$work" && chmod -R u+w "$$work" && \
	  mkdir -p $(dir $(COMPOSE_PLUGIN)) && \
	  (cd "$$work" && go build -trimpath -o $(COMPOSE_PLUGIN) \
	     -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$(COMPOSE_VERSION)" ./cmd) && \
	  rm -rf "$$work" && docker compose version; \
	fi

up: $(STAMP)
	@$(BIN)/alertpipe local up

down: $(STAMP)
	@$(BIN)/alertpipe local down

demo: $(STAMP)
	@$(MAKE) --no-print-directory native || echo "setup: no compiled build: stage 1 runs as Python"
	@$(BIN)/alertpipe demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy examples

unit: $(STAMP) native
	$(BIN)/pytest -q tests/unit

test: $(STAMP) tools compose-plugin lint native
	@$(BIN)/alertpipe local up
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
