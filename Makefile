# batch-backtest: make run | make dev | make test | make bench | make lint
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
PORT ?= 8501
# Storage, backend and the job database come from the settings (jobs/settings.py): defaults,
# then $(BACKTEST_CONFIG) (default ./backtest.toml), then BACKTEST_* variables. Without either,
# the local backend keeps everything in the checkout's ./.data, the same folder the CLI
# (`.venv/bin/python -m jobs ...`) uses. `make run DATA=/some/dir` picks another folder.
ifdef DATA
export BACKTEST_STORAGE_ROOT := $(abspath $(DATA))
endif
STREAMLIT := $(VENV)/bin/streamlit run streamlit_app.py --server.port $(PORT)

.PHONY: venv run dev test lint fmt bench seed clean

$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

seed: venv
	$(PY) -m app.seed

# Serving: .streamlit/config.toml (loopback, no file watcher, no Deploy menu, no usage stats).
run: seed
	$(STREAMLIT)

# Developing the app: rerun on save, with the polling watcher (it polls the app's own source
# files; the event watcher would watch the whole checkout, .venv and .data included).
dev: seed
	$(STREAMLIT) --server.fileWatcherType poll --server.runOnSave true

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
