"""Shared bench helpers.

By default the benches run in smoke mode (CI: ``pytest benches
--benchmark-disable``): small inputs, each bench once, results still checked.
``POSTCOUPLE_BENCH_FULL=1`` (``make bench``) switches to the full sizes.
Everything is timed with one torch/BLAS thread unless a bench says otherwise.
"""

from __future__ import annotations

import sys

import pytest

from benchutil import once, size


@pytest.fixture
def bench_size():
    """The :func:`size` helper, as a fixture: ``n = bench_size(1_000, 1_000_000)``."""
    return size


@pytest.fixture
def bench_once():
    """The :func:`once` helper, as a fixture: ``bench_once(benchmark, slow_fn, x)``."""
    return once


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Only if a bench module already imported torch: the packing benches never need it.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    yield
