# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DATA ?= data
export SHOPASSIST_DATA_DIR ?= $(DATA)
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
export GRADIO_ANALYTICS_ENABLED=False
export ANONYMIZED_TELEMETRY=False
export ORT_DISABLE_TELEMETRY=1

.PHONY: run test regress-model install install-test data index chromium postgres lint bench clean

$(VENV)/.installed: pyproject.toml scripts/install_models.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	bash scripts/install_models.sh $(PIP)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

data: $(VENV)/.installed
	bash scripts/fetch_data.sh $(DATA) $(PIP)

# The index embeds name + category + the shipped LLM enrichment
# (retrieval/enrichments/enrichment-<catalogue>.jsonl.gz). `enrich --shipped` runs no model: it loads
# that file into the database cache and re-embeds only what it changed (a data dir indexed before
# the file shipped); `shopassist enrich` regenerates it with the local model (about an hour).
index: data
	$(VENV)/bin/shopassist index --if-missing
	$(VENV)/bin/shopassist enrich --shipped --quiet
	$(VENV)/bin/shopassist train --if-missing

# Debian's Chromium for the browser tests; Playwright drives it, no browser download.
# Chromium for the browser tests, and a CJK font so Chinese pages render (screenshots).
chromium:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wqy; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium fonts-wqy-microhei >/dev/null; \
	fi

run: index
	@if [ -f app.py ] && $(PY) -c "import assistant.web" 2>/dev/null; then \
	  $(PY) app.py; \
	else \
	  $(VENV)/bin/shopassist search; \
	fi

# Scale-out pass: the database- and store-dependent tests again, on a real PostgreSQL (fresh
# database per stack) and a real `chroma run` server (SHOPASSIST_TEST_CHROMA_URL=spawn).
SCALE_OUT_TESTS ?= tests/test_recommendation.py tests/test_support_orders.py \
  tests/test_support_returns.py tests/test_support_tickets.py tests/test_support_knowledge.py \
  tests/test_agent.py tests/test_api.py tests/test_privacy.py tests/test_catalogue_search.py \
  tests/test_red_team.py tests/test_cart.py tests/test_account_chat.py

# A private PostgreSQL cluster on 127.0.0.1 (Debian's package) and its driver; prints the URL.
postgres: install-test
	@$(PY) -c "import psycopg" 2>/dev/null || $(PIP) install --quiet 'psycopg[binary]'
	@bash scripts/postgres.sh start

# Two pytest processes side by side, one per core. Beside: the real-model suites (the red team
# on SmolLM2, the sloppiest writer, so the checks are stressed hardest; the dialogue subset and
# the six-turn browser test on the product's default model), on one llama.cpp thread. In front:
# everything else, then the scale-out pass (the database- and store-dependent tests again on
# PostgreSQL and a `chroma run` server). The whole golden suite on a model: `make regress-model`.
PYTEST_TMP ?= $(CURDIR)/.pytest-tmp
test: lint data chromium postgres
	@set -o pipefail; t0=$$(date +%s); mkdir -p $(PYTEST_TMP); \
	export SHOPASSIST_LLM_LOCAL_MODEL=smollm2 SHOPASSIST_LLM_THREADS=1; \
	$(PY) -m pytest -q -p no:cacheprovider --basetemp=$(PYTEST_TMP)/model -m model_suite \
	  > $(PYTEST_TMP)/model.log 2>&1 & mpid=$$!; \
	$(PY) -m pytest -q -p no:cacheprovider --basetemp=$(PYTEST_TMP)/main \
	  -m "not model_suite and not full_model"; rc1=$$?; \
	echo "default pass (SQLite + embedded Chroma): rc=$$rc1, $$(( $$(date +%s) - t0 ))s"; t1=$$(date +%s); \
	SHOPASSIST_TEST_DATABASE_URL=$$(bash scripts/postgres.sh url) SHOPASSIST_TEST_CHROMA_URL=spawn \
	  $(PY) -m pytest -q -p no:cacheprovider --basetemp=$(PYTEST_TMP)/scale-out \
	  -m "not browser and not model" -k "not search_cli" $(SCALE_OUT_TESTS); rc2=$$?; \
	echo "scale-out pass (PostgreSQL + chroma server): rc=$$rc2, $$(( $$(date +%s) - t1 ))s"; \
	bash scripts/postgres.sh stop; \
	wait $$mpid; rcm=$$?; echo "--- real-model suites (beside the passes above):"; \
	cat $(PYTEST_TMP)/model.log; \
	echo "real-model suites: rc=$$rcm, $$(( $$(date +%s) - t0 ))s"; \
	[ $$rc1 = 0 ] && [ $$rc2 = 0 ] && [ $$rcm = 0 ]

# The whole golden suite (87 cases) on a real model, against the checked-in baseline.
regress-model: data
	SHOPASSIST_LLM_LOCAL_MODEL=$${SHOPASSIST_LLM_LOCAL_MODEL:-smollm2} $(PY) -m pytest -q \
	  -p no:cacheprovider tests/test_regress_suite.py -m full_model

# Style, the import contracts (pyproject's [tool.importlinter]) and the type check.
lint: install-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: index
	$(PY) bench/search.py

clean:
	rm -rf $(VENV) $(DATA)
