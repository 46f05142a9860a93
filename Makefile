# Everything installs into the project folder: a pinned uv in .tools/, the locked environment in .venv/.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test test-pg15 test-pooled bench check clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen --python $(PYTHON) --quiet

## Install, start the embedded PostgreSQL, migrate, load demo data, print an admin key, serve on :8000.
run: install
	$(VENV)/bin/erp serve --demo

## Install and run the whole test suite (embedded PostgreSQL unless ERP_TEST_DATABASE_URL is set).
test: install
	$(VENV)/bin/pytest

## The suite against the machine's PostgreSQL service.
test-pg15: install
	ERP_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres $(VENV)/bin/pytest

## The races (orders, reservations, holds, returns, idempotency) with the service behind pgbouncer in
## transaction mode (ERP_DATABASE_POOLER=transaction); needs Debian's pgbouncer, fails without it.
POOLED_TESTS := tests/orders/test_races.py tests/returns/test_races.py tests/orders/test_holds.py \
	tests/test_idempotency.py tests/suppliers/test_dated_promises.py tests/orders/test_placing.py
test-pooled: install
	ERP_TEST_POOLER=pgbouncer $(VENV)/bin/pytest $(POOLED_TESTS)

## Load benchmarks against the raw-SQL floor; prints figures and writes bench/results/.
bench: install
	$(VENV)/bin/python -m bench

check: install
	$(VENV)/bin/erp check

clean:
	rm -rf .tools $(VENV) .erp .pytest_cache
