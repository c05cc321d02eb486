# Quarry: `make demo` runs one research run on the embedded default; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= .data
# Test files run in parallel, a file (and so a module's stack) on one worker: most of an e2e test
# is waiting on its services, so three workers fit two cores. Files are handed out in collection
# order, the longest first (LONGEST_FIRST in tests/conftest.py), then e2e; xdist's default reorder
# (most tests first) would leave the longest files, which hold one or two tests each, to the end.
TEST_WORKERS ?= 3
NATS_NODES ?= 1

.PHONY: venv web web-check demo up down test lint unit integration e2e soak contracts bench clean policy-test eval

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The web application (web/): npm ci from the lockfile, the plan table for /pricing, the build.
WEB_STAMP := web/node_modules/.installed

$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

web: venv $(WEB_STAMP)
	$(PY) -m devtools.export_plans --out web/src/generated/plans.json
	$(PY) -m devtools.export_limits --out web/src/generated/limits.json
	cd web && npm run build

# TypeScript strict, the linter and the component tests (Vitest).
web-check: web
	cd web && npm run check

demo: venv web
	$(PY) -m devtools.cli demo --data-dir $(DATA)

up: venv web
	@mkdir -p $(DATA)/logs
	@if [ -f $(DATA)/stack.pid ] && kill -0 $$(cat $(DATA)/stack.pid) 2>/dev/null; then echo "already up (pid $$(cat $(DATA)/stack.pid))"; exit 0; fi; \
	rm -f $(DATA)/stack.ready; \
	nohup $(PY) -m devtools.cli up --data-dir $(DATA) --nats-nodes $(NATS_NODES) >> $(DATA)/logs/stack.log 2>&1 & echo $$! > $(DATA)/stack.pid; \
	$(PY) -m devtools.cli wait --data-dir $(DATA)

down: venv
	$(PY) -m devtools.cli down --data-dir $(DATA)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: venv
	$(VENV)/bin/pytest -q tests/integration

e2e: venv
	$(VENV)/bin/pytest -q tests/e2e

# Long runs on a whole stack, bounded, outside `make test` (a rollout promoted on real runs).
soak: venv
	$(VENV)/bin/pytest -q -s -p no:cacheprovider tests/soak

test: lint web-check
	$(VENV)/bin/pytest -q -p no:cacheprovider --durations=25 -rfE -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/browser tests/e2e tests/integration tests/unit

contracts: venv
	$(PY) -m devtools.export_contracts

bench: venv web
	$(PY) -m bench

# Both splits of evals/ (dev, tuned on; test, never tuned on), per kind: recall, key terms, relevance,
# citation support, coverage. Live when QUARRY_LLM_BASE_URL is set; exits 1 when the test split misses a target.
eval: venv
	$(PY) -m evals

# The table of expected decisions (services/policy/decisions.yaml) against the policy files.
policy-test: venv
	$(PY) -m services.policy.decision_table

clean:
	rm -rf $(DATA) .pytest_cache .mypy_cache .ruff_cache
