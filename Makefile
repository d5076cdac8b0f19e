# The two commands a developer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Exact versions with hashes: runtime.lock is what the server needs, dev.lock that plus the
# tools of the tests, lint and bench (resolved with runtime.lock as constraints, so the two agree).
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: install browser run test bench load lint schema lock clean

# The venv's own pip installs exactly the locked wheels, each checked against its hash (an
# unpinned `pip install --upgrade pip` would make the install depend on the day; wheels only, so
# nothing is built with unlocked build tools). The lock includes the build backend, so the
# editable install needs no download, and `pip check` stops when pyproject.toml asks for
# something the lock lacks.
$(VENV)/.installed-%: requirements/%.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: -r $<
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check || { echo 'pyproject.toml asks for more than $<: run make lock'; exit 1; }
	touch $@

install: $(DEV)

## Serve the API on http://127.0.0.1:8000/graphql (embedded PostgreSQL unless DATABASE_URL is set).
run: $(RUNTIME)
	$(BIN)/bff serve --migrate --seed

## Debian's Chromium for the GraphiQL browser test, when missing (needs root; nothing if present).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "could not install chromium: the GraphiQL browser test skips (fails under CI=true)" >&2

## Install and run the test suite against PostgreSQL (and Redis when reachable).
test: $(DEV) browser
	$(BIN)/pytest

## Benchmarks: each prints a ratio measured side by side in one run.
bench: $(DEV)
	$(BIN)/python -m bench

## Load test: simulated app users against `bff serve` (BFF_WORKERS=2, Redis), bounded in time;
## LOAD_USERS (2000), LOAD_SECONDS (150), LOAD_CUSTOMERS, LOAD_SPAWN_SECONDS (see bench/load.py).
load: $(DEV)
	$(BIN)/python -m bench.load

## ruff, mypy and the import contracts of the layers (pyproject.toml [tool.importlinter]).
lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bff schema resolvers dataloaders tests bench
	$(BIN)/lint-imports

## Regenerate schema.graphql from the code.
schema: $(RUNTIME)
	$(BIN)/bff export-schema > schema.graphql

# The locking tool, pinned so that everyone's `make lock` writes the same files; in a venv of its
# own, so that .venv holds exactly the locked packages.
UV_VERSION := 0.13.9
UV_VENV    := $(VENV)-uv
UV         := $(UV_VENV)/bin/uv
LOCK_ARGS  ?=
# pyproject.toml's [build-system] requires, locked with the rest for the editable install.
BUILD_REQUIRES = $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
# Against PyPI only (--no-config, and uv reads no pip.conf), as CI and a fresh machine see it;
# universal: markers keep other platforms and later Pythons installable.
COMPILE = $(UV) pip compile --quiet --no-config --default-index https://pypi.org/simple \
	--universal --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' $(LOCK_ARGS)

$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

## Re-resolve requirements/*.lock after a change to the dependencies in pyproject.toml; other
## pins stay. LOCK_ARGS=--upgrade moves every pin to the newest allowed version,
## LOCK_ARGS='--upgrade-package redis' one package.
lock: $(UV)
	mkdir -p requirements
	$(BUILD_REQUIRES) | $(COMPILE) pyproject.toml - -o requirements/runtime.lock
	$(BUILD_REQUIRES) | $(COMPILE) pyproject.toml - --extra dev -c requirements/runtime.lock -o requirements/dev.lock

clean:
	rm -rf $(VENV) $(UV_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
