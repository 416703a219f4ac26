"""Helpers shared by the benches (imported by conftest.py and the bench modules).

By default the benches run in smoke mode (CI: ``pytest benches
--benchmark-disable``): small inputs, each bench once. ``POSTCOUPLE_BENCH_FULL=1``
(``make bench``) switches to the full sizes (``size(smoke, full_size)``). :func:`import_verl` brings in
verl, a peer the benches compare against. The benches import nothing from
``tests/``.
"""

from __future__ import annotations

import os

from postcouple.reference.verl_import import import_verl

__all__ = ["full", "import_verl", "once", "size"]


def full() -> bool:
    """True when full-size benches were asked for (``POSTCOUPLE_BENCH_FULL=1``)."""
    return os.environ.get("POSTCOUPLE_BENCH_FULL", "") not in ("", "0")


def size(smoke: int, full_size: int) -> int:
    """``full_size`` under ``POSTCOUPLE_BENCH_FULL=1``, else ``smoke``."""
    return full_size if full() else smoke


def once(benchmark, fn, *args, **kwargs):
    """Time a slow peer with a single round (seconds per call at full size)."""
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=1, iterations=1)
