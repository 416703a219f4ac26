# postcouple dev loop. `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))
# One torch/BLAS thread per process: on 2-core machines two threads in one
# process were measured up to 25x slower when another process held a core.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
.DEFAULT_GOAL := help

.PHONY: help install build lint fmt test test-rust test-py bench run

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python ## make .venv, install all extras, build the core (release, LTO)
	$(BIN)/pip install -q "maturin>=1.7,<2"
	$(BIN)/maturin develop --release --extras train,test,peers
	# verl, for the peer-reproduction tests and benches of postcouple.advantages: its advantage
	# functions import with only these light deps (ray is stubbed); --no-deps skips its heavy stack.
	$(BIN)/pip install -q --no-deps "verl==0.9.1" tensordict pyvers cloudpickle omegaconf codetiming orjson

build: $(BIN)/python ## rebuild the core fast (devopt profile: optimised, no LTO)
	$(BIN)/maturin develop --profile devopt

lint: ## ruff, cargo fmt --check, cargo clippy -D warnings (with and without the bindings)
	$(BIN)/ruff check python tests benches
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings

fmt: ## format Rust and Python
	cargo fmt
	$(BIN)/ruff check --fix python tests benches
	$(BIN)/ruff format python tests benches

test-rust: ## cargo test (pure core, no Python)
	cargo test --release

test-py: ## pytest: tests/ and benches/ in smoke mode (each bench runs once)
	$(BIN)/python -m pytest tests benches --benchmark-disable

test: lint test-rust test-py ## everything CI runs

bench: ## full-size benches, side by side (POSTCOUPLE_BENCH_FULL=1)
	POSTCOUPLE_BENCH_FULL=1 $(BIN)/python -m pytest benches --benchmark-only --benchmark-columns=min,median,mean,rounds --benchmark-group-by=group

run: ## the main job on the embedded default
	$(BIN)/postcouple coupling
