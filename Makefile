# fraudctl: two commands for a fresh machine.
#   make demo   set up, boot the stack, send traffic, open the live console
#   make test   set up and run lint, type checks and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RATE   ?= 200

.PHONY: demo test setup venv system-deps test-system-deps lint unit integration bench clean

demo: setup
	$(BIN)/fraudctl up --no-console
	$(BIN)/fraudctl demo --no-prompt
	@echo "sending $(RATE) tx/s in the background (log: ~/.fraudctl/logs/simulate.log); Ctrl-C or q leaves the console"
	@mkdir -p $(HOME)/.fraudctl/logs
	$(BIN)/fraudctl simulate --rate $(RATE) --duration 3600 --json > $(HOME)/.fraudctl/logs/simulate.log 2>&1 & \
	  SIM=$$!; $(BIN)/fraudctl console; kill $$SIM 2>/dev/null || true

test: test-system-deps setup lint
	$(BIN)/pytest

setup: system-deps venv
	$(BIN)/fraudctl setup

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

test-system-deps:
	bash scripts/install-system-deps.sh --test

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: venv
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration tests/e2e

bench: setup
	$(BIN)/python benchmarks/bench_stack.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
