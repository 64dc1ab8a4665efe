# Two entry points for a fresh Debian machine with Python 3.11 (run as root, or with sudo):
#   make demo   set up, then run the main demo on embedded defaults
#   make test   set up, then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=

.PHONY: demo test setup system-packages lint bench clean

demo: setup
	$(BIN)/tinyfuse demo factory --out $(DEMO_OUT)
	$(BIN)/tinyfuse deploy $(DEMO_OUT) --board qemu-m4

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system-packages $(VENV)/.installed

system-packages:
	@bash tools/system_packages.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build out $(DEMO_OUT) .pytest_cache
