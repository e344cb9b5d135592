# Quick start: `make serve` runs the demo node, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := var/demo

.PHONY: serve test lint bench clean

$(BIN)/tongban: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The demo node runs on SQLite in var/demo, built once (fake keys and cases, marked DEMO);
# delete var/demo to rebuild it. TONGBAN_DATABASE_URL is cleared: the demo is never written
# into a configured database.
serve: $(BIN)/tongban
	test -f $(DEMO_DIR)/ledger.sqlite3 || \
		TONGBAN_DATABASE_URL= $(BIN)/tongban demo --cases 200 --seed 1 --data-dir $(DEMO_DIR)
	TONGBAN_DATABASE_URL= $(BIN)/tongban serve --data-dir $(DEMO_DIR)

test: $(BIN)/tongban
	$(BIN)/pytest -q

lint: $(BIN)/tongban
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/tongban
	$(BIN)/pytest benchmarks -q -p no:cacheprovider --benchmark-columns=median,iqr,rounds

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
