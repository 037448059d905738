# The two commands a new user runs: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# glibc keeps big tensors' memory instead of returning it each step (faster, steadier torch runs on CPU)
export MALLOC_MMAP_THRESHOLD_ := 33554432
export MALLOC_TRIM_THRESHOLD_ := 1073741824
TEST_WORKERS ?= 2
DEMO_OUT ?= out

.PHONY: demo test setup venv lint bench corpus train clean

demo: setup venv
	$(BIN)/lofi generate --mood rainy --bpm 72 --key "D minor" --minutes 2 --seed 7 --out $(DEMO_OUT)

test: setup venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=15

setup:
	bash scripts/setup-system.sh

# torch first, from the pinned CPU wheel, so no dependency can pull a CUDA build in
$(BIN)/lofi: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

venv: $(BIN)/lofi

lint: venv
	$(BIN)/ruff check .

# each bench/*.py replaces its own section of docs/BENCHMARKS.md
bench: setup venv
	@set -e; for script in bench/[a-z]*.py; do \
		[[ $$script == bench/common.py ]] && continue; \
		echo "== $$script"; $(BIN)/python $$script; \
	done

corpus: setup venv
	$(BIN)/lofi corpus build

train: venv
	$(BIN)/lofi train --size small

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
