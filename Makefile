# The two commands a developer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser run test bench lint schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API on http://127.0.0.1:8000/graphql (embedded PostgreSQL unless DATABASE_URL is set).
run: install
	$(BIN)/bff serve --migrate --seed

## Debian's Chromium for the GraphiQL browser test, when missing (needs root; nothing if present).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "could not install chromium: the GraphiQL browser test skips (fails under CI=true)" >&2

## Install and run the test suite against PostgreSQL (and Redis when reachable).
test: install browser
	$(BIN)/pytest

## Benchmarks: each prints a ratio measured side by side in one run.
bench: install
	$(BIN)/python -m bench

## ruff, mypy and the import contracts of the layers (pyproject.toml [tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bff schema resolvers dataloaders tests bench
	$(BIN)/lint-imports

## Regenerate schema.graphql from the code.
schema: install
	$(BIN)/bff export-schema > schema.graphql

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
