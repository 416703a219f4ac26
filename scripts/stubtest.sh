#!/usr/bin/env bash
# Check python/postcouple/_core.pyi against the compiled module with mypy's stubtest:
# every name, signature (argument names, kinds, defaults) and constant must agree.
# Needs the extension built into python/postcouple (make install, or maturin develop).
# Usage: scripts/stubtest.sh [python]   (default: python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python}"
PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m mypy.stubtest postcouple._core \
    --allowlist tests/stubtest_allowlist.txt
