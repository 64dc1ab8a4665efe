# Two entry points for a fresh Debian machine with Python 3.11 (run as root, or with sudo):
#   make demo   set up, then run the main demo on embedded defaults
#   make test   set up, then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=

.PHONY: demo test setup system-packages lint bench clean

# The demo: build the factory app on simulated machines (thresholds calibrated on the
# validation split), run it on the emulated Cortex-M4, then run the app on a stream of four
# machines in which faults appear (the thermal camera fails at t=180 s, so that alert asks a
# person; the automatic hook answers and records the question), alerts to the local outbox.
demo: setup
	$(BIN)/tinyfuse demo factory --out $(DEMO_OUT)
	$(BIN)/tinyfuse deploy $(DEMO_OUT) --board qemu-m4
	rm -rf $(DEMO_OUT)/run
	$(BIN)/tinyfuse run $(DEMO_OUT) --stream onsets --per-class 24 --period-s 5 \
	    --drop-modality thermal@180 --confirm auto
	@echo "demo done: $(DEMO_OUT)/model_card.md, confusion.png, device.json, policy.json," \
	    "run/stream.png, run/run_summary.json, run/outbox/alerts.jsonl"

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system-packages $(VENV)/.installed

system-packages:
	@bash tools/system_packages.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,dev]"
	@touch $@

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/run_configs.py --all
	$(BIN)/python bench/firmware_footprint.py

clean:
	rm -rf $(VENV) build out $(DEMO_OUT) .pytest_cache
