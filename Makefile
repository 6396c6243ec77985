# engagement-engine: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TOOLS := $(VENV)/.tools

.PHONY: setup tools demo test lint unit integration kafka-up kafka-down idp-up idp-down bench soak clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(INSTALLED)

setup: $(INSTALLED)

$(TOOLS): scripts/install-tools.sh | $(INSTALLED)
	bash scripts/install-tools.sh
	@touch $(TOOLS)

tools: $(TOOLS)

kafka-up:
	$(PYTHON) kafka/localkafka.py up

kafka-down:
	$(PYTHON) kafka/localkafka.py down

# A local OpenID Connect provider (each first path segment an issuer), as the tests start one.
idp-up:
	$(PYTHON) identity/localidp.py up

idp-down:
	$(PYTHON) identity/localidp.py down

demo: $(INSTALLED)
	$(BIN)/python scripts/demo.py

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest tests/unit -q

integration: $(INSTALLED) $(TOOLS)
	$(BIN)/pytest tests/integration -q

# pytest exits 5 when it collects nothing; make treats that as the failure it is.
test: $(INSTALLED) $(TOOLS) lint
	$(BIN)/pytest -q

bench: $(INSTALLED)
	$(BIN)/python scripts/bench.py

soak: $(INSTALLED)
	ENGAGE_SOAK=1 $(BIN)/pytest tests/integration/test_stream_equals_backfill.py tests/integration/test_poison.py \
		tests/integration/test_faults.py -q

clean:
	-$(PYTHON) kafka/localkafka.py down
	-$(PYTHON) identity/localidp.py down
	rm -rf .local
