# Quick start: `make serve` runs the demo node (runtime install), `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := var/demo

.PHONY: serve test lint bench bench-large clean

# Two installs into one venv: `serve` needs only the runtime (`.`); `test`, `lint` and `bench`
# the dev extras too (pytest, ruff, mypy, OpenCV for QR read-back: hundreds of MB). Each is
# remembered by a stamp; the runtime one counts as done when the dev install is current, and
# installing `.` never removes what the dev extras brought, so `make serve` keeps a dev venv.
$(VENV)/dev.stamp: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/runtime.stamp: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	test $(VENV)/dev.stamp -nt pyproject.toml || $(BIN)/pip install --quiet --upgrade pip
	test $(VENV)/dev.stamp -nt pyproject.toml || $(BIN)/pip install --quiet -e '.[outbox]'
	touch $@

# The dev venv, by the name of its command (`make .venv/bin/tongban`).
$(BIN)/tongban: $(VENV)/dev.stamp
	@test -x $@

# The demo node runs on SQLite in var/demo, built once (fake keys and cases, marked DEMO);
# delete var/demo to rebuild it. TONGBAN_DATABASE_URL is cleared: the demo is never written
# into a configured database.
serve: $(VENV)/runtime.stamp
	test -f $(DEMO_DIR)/ledger.sqlite3 || \
		TONGBAN_DATABASE_URL= $(BIN)/tongban demo --cases 200 --seed 1 --data-dir $(DEMO_DIR)
	TONGBAN_DATABASE_URL= $(BIN)/tongban serve --data-dir $(DEMO_DIR)

test: $(VENV)/dev.stamp
	$(BIN)/pytest -q

lint: $(VENV)/dev.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/dev.stamp
	$(BIN)/pytest benchmarks -q -p no:cacheprovider -m 'not slow and not large' \
		--benchmark-columns=median,iqr,rounds

# The large variants (docs/benchmarks.md): the 1,000,000-event store for P7, longer P12, and the
# read models on a 1,000,000-event ledger vs 10,000 (R0-R3; the loader takes about an hour here,
# TONGBAN_BENCH_LARGE_DIR reuses a ledger built before).
bench-large: $(VENV)/dev.stamp
	TONGBAN_BENCH_P7_EVENTS=1000000 TONGBAN_BENCH_P12_ROUNDS=40 \
		$(BIN)/pytest benchmarks -q -p no:cacheprovider -m 'not slow' \
		--benchmark-columns=median,iqr,rounds

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
