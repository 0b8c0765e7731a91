# The team's habits. `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# torch is a multi-GB wheel: installed once per version outside the repo, linked into .venv.
TORCH_VERSION ?= 2.15.0
TORCH_DIR ?= $(HOME)/.cache/stocktracker/ml/torch-$(TORCH_VERSION)
TORCH_PTH := $(VENV)/lib/python3.11/site-packages/stocktracker-torch.pth

.PHONY: setup jars chromium demo test unit integration lint bench kafka-up kafka-down clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(TORCH_DIR):
	rm -rf $(TORCH_DIR).partial
	$(PYTHON) -m pip install -q --target $(TORCH_DIR).partial torch==$(TORCH_VERSION)
	mv $(TORCH_DIR).partial $(TORCH_DIR)

$(TORCH_PTH): $(STAMP) | $(TORCH_DIR)
	echo $(TORCH_DIR) > $(TORCH_PTH)

setup: $(STAMP) $(TORCH_PTH)

# The Kafka jars, resolved with Maven into a cache outside the repo (once).
jars: setup
	$(PY) -c "from stocktracker.streams.commands import kafka_local as k; print(len(k.resolve_classpath(k.config_from_env())), 'kafka jars ready')"

# Debian's chromium for the browser test: Playwright drives it, no browser is downloaded.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

demo: jars
	$(VENV)/bin/stocktracker demo $(DEMO_ARGS)

test: jars chromium
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -q tests/unit

integration: jars chromium
	$(PY) -m pytest -q tests/integration

# mypy cannot follow setuptools' package-dir mapping, so it reads the packages through a
# tree of links laid out as they install: build/typecheck/stocktracker/<folder>.
PACKAGES := streams agents schemas tables connectors domain sentiment web
TYPECHECK := build/typecheck

lint: setup
	$(VENV)/bin/ruff check .
	rm -rf $(TYPECHECK)/stocktracker && mkdir -p $(TYPECHECK)/stocktracker
	for p in $(PACKAGES); do ln -s $(CURDIR)/$$p $(TYPECHECK)/stocktracker/$$p; done
	cd $(TYPECHECK) && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml -p stocktracker

bench: jars
	$(PY) bench/sentiment.py --json bench-sentiment.json
	$(PY) bench/pipeline.py --json bench-pipeline.json
	$(PY) bench/dashboard.py --json bench-dashboard.json
	$(PY) bench/execution.py --json bench-execution.json
	$(PY) bench/backtest.py --json bench-backtest.json
	$(PY) bench/chaos.py --json bench-chaos.json

kafka-up: jars
	$(VENV)/bin/stocktracker kafka up

kafka-down: setup
	$(VENV)/bin/stocktracker kafka down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
