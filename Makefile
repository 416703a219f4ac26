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

.PHONY: help install build lint fmt test test-rust test-py bench run wheel check-wheel test-wheel

# Release artefacts. zig (from PyPI's ziglang) links against glibc 2.17 symbols, so the
# wheels are manylinux2014 (manylinux_2_17) whatever the build machine's glibc; it also
# cross-links aarch64. Pinned: these exact versions built and passed auditwheel here.
WHEEL_TOOLS := "maturin==1.16.0" "ziglang==0.13.0" "auditwheel==6.8.2"
WHEEL_TARGETS ?= x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu

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
	# pylatexenc and mathruler: verl's numina (prime_math) and geometry3k scorers, for the drop-in tests.
	$(BIN)/pip install -q --no-deps "verl==0.9.1" tensordict pyvers cloudpickle omegaconf codetiming orjson \
	  pylatexenc mathruler

build: $(BIN)/python ## rebuild the core fast (devopt profile: optimised, no LTO)
	$(BIN)/maturin develop --profile devopt

lint: ## ruff check + format --check, mypy, cargo fmt --check, cargo clippy -D warnings (with and without the bindings)
	$(BIN)/ruff check python tests benches examples
	$(BIN)/ruff format --check python tests benches examples
	$(BIN)/mypy
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings

fmt: ## format Rust and Python
	cargo fmt
	$(BIN)/ruff check --fix python tests benches examples
	$(BIN)/ruff format python tests benches examples

test-rust: ## cargo test (pure core, no Python)
	cargo test --release

test-py: ## pytest: tests/ and benches/ in smoke mode (each bench runs once)
	$(BIN)/python -m pytest tests benches --benchmark-disable

test: lint test-rust test-py ## everything CI runs

bench: ## full-size benches, side by side (POSTCOUPLE_BENCH_FULL=1)
	POSTCOUPLE_BENCH_FULL=1 $(BIN)/python -m pytest benches --benchmark-only --benchmark-columns=min,median,mean,rounds --benchmark-group-by=group

run: ## the main job on the embedded default
	$(BIN)/postcouple coupling

# The wheels are built from the unpacked sdist, so every release proves the sdist builds.
# tar -m gives the files fresh mtimes (the sdist stores 2006 ones): otherwise cargo would
# take a stale library in target/ for up to date.
wheel: $(BIN)/python ## dist/: the sdist and manylinux2014 abi3 wheels built from it (WHEEL_TARGETS)
	$(BIN)/pip install -q $(WHEEL_TOOLS)
	rm -rf dist target/sdist && mkdir -p target/sdist
	$(BIN)/maturin sdist --out dist
	tar xzmf dist/postcouple-*.tar.gz -C target/sdist
	for t in $(WHEEL_TARGETS); do \
	  rustc -vV | grep -qx "host: $$t" || rustup target list --installed 2>/dev/null | grep -qx $$t \
	    || rustup target add $$t || exit 1; \
	  (cd target/sdist/postcouple-* && PATH="$(abspath $(BIN)):$$PATH" CARGO_TARGET_DIR="$(abspath target)" \
	    $(abspath $(BIN))/maturin build --release --strip --zig --compatibility manylinux2014 \
	    --target $$t --out "$(abspath dist)") || exit 1; \
	done
	$(MAKE) --no-print-directory check-wheel

check-wheel: ## auditwheel: every wheel in dist/ is manylinux_2_17 (manylinux2014)
	@ls dist/*.whl >/dev/null
	@for w in dist/*.whl; do \
	  $(BIN)/auditwheel show $$w | tr -s ' \n' ' ' \
	    | grep -q 'consistent with the following platform tag: "manylinux_2_17_' \
	    || { $(BIN)/auditwheel show $$w; echo "$$w: not manylinux_2_17"; exit 1; }; \
	  echo "$$w: manylinux_2_17 (auditwheel)"; \
	done

test-wheel: ## the x86_64 wheel in a fresh venv with only numpy: import, score, pack, CLI hints
	POSTCOUPLE_WHEEL_DIR=dist $(BIN)/python -m pytest tests/test_packaging.py -q
