# batch-backtest: make run | make dev | make test | make test-fast | make bench | make lint
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Installs come from uv.lock (pyproject.toml says what, uv.lock pins it). uv itself is bootstrapped
# into the venv with pip, pinned here. `make run` installs the app and its CLIs only (no test
# tools); `make test`, `make lint` and `make test-fast` add the test and dev groups.
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
LOCK_SUM := $(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.synced-run-$(LOCK_SUM)
DEV_STAMP := $(VENV)/.synced-dev-$(LOCK_SUM)
# uv: the venv named above, never a downloaded interpreter, and the lock as it is (make lint
# checks that it matches pyproject.toml). --inexact: a sync adds and updates, and leaves uv (and
# the test tools of an earlier `make test`) in place.
SYNC := UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) UV_PYTHON_DOWNLOADS=never \
	$(UV) sync --frozen --inexact --all-extras
EXPORT := $(UV) export --frozen --quiet --format requirements-txt --no-emit-project
ifdef DATA
export BACKTEST_STORAGE_ROOT := $(abspath $(DATA))
endif
STREAMLIT := $(VENV)/bin/streamlit run streamlit_app.py --server.address 127.0.0.1 \
	--server.port $(PORT)

.PHONY: venv venv-dev run dev test test-fast lint lock fmt bench seed clean

$(UV):
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(RUN_STAMP): uv.lock pyproject.toml | $(UV)
	$(SYNC) --no-default-groups
	@rm -f $(VENV)/.synced-run-*; touch $(RUN_STAMP)

$(DEV_STAMP): uv.lock pyproject.toml | $(UV)
	$(SYNC) --all-groups
	@rm -f $(VENV)/.synced-*; touch $(DEV_STAMP) $(RUN_STAMP)

venv: $(RUN_STAMP)

venv-dev: $(DEV_STAMP)

# After editing pyproject.toml's dependencies: relock and re-export the requirements files
# (pip users and the engine image install from them; make lint checks they match the lock).
lock: | $(UV)
	$(UV) lock
	$(EXPORT) --all-extras --no-default-groups > requirements.txt
	$(EXPORT) --no-default-groups --extra jobs > engine/requirements.txt

seed: venv
	$(PY) -m app.seed

# Serving: .streamlit/config.toml (loopback, no file watcher, no Deploy menu, no usage stats).
run: seed
	$(VENV)/bin/streamlit run streamlit_app.py --server.address 127.0.0.1 --server.port $(PORT)

# Developing the app: rerun on save, with the polling watcher (it polls the app's own source
# files; the event watcher would watch the whole checkout, .venv and .data included).
dev: seed
	$(STREAMLIT) --server.fileWatcherType poll --server.runOnSave true

lint: venv-dev
	$(UV) lock --check --offline
	@diff -u requirements.txt <($(EXPORT) --all-extras --no-default-groups) \
		|| { echo "requirements.txt does not match uv.lock: run make lock"; exit 1; }
	@diff -u engine/requirements.txt <($(EXPORT) --no-default-groups --extra jobs) \
		|| { echo "engine/requirements.txt does not match uv.lock: run make lock"; exit 1; }
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: venv-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest

# The suite without the Chromium end-to-end tests and the tests marked slow (tests/conftest.py).
test-fast: venv-dev
	$(PY) -m pytest -m "not e2e and not slow"

bench: venv-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
