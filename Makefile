# AICMO: `make demo` and `make test` are the contract; both build .venv from the project's files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck check bench ui deploy clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/aicmo demo

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=30 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(PY) scripts/mypy_tree.py >/dev/null
	$(VENV)/bin/mypy

check: lint typecheck test

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

# The demo and the CLI keep Prefect's database under AICMO_HOME/prefect; the UI serves that one, so the
# demo's runs and artifacts are what it shows. No analytics or telemetry leave the machine.
ui: $(STAMP)
	PREFECT_HOME=$(or $(AICMO_HOME),$(CURDIR)/.aicmo)/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 \
		$(VENV)/bin/prefect server start --host 127.0.0.1 --port 4200

deploy: $(STAMP)
	$(VENV)/bin/prefect work-pool inspect aicmo-process >/dev/null 2>&1 || \
		$(VENV)/bin/prefect work-pool create aicmo-process --type process
	AICMO_PROJECT_DIR=$(CURDIR) $(VENV)/bin/prefect --no-prompt deploy --all
	$(VENV)/bin/aicmo pipeline alerts

clean:
	rm -rf .aicmo .mypy_tree .pytest_cache build
