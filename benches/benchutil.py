"""Helpers shared by the benches (imported by conftest.py and the bench modules).

By default the benches run in smoke mode (CI: ``pytest benches
--benchmark-disable``): small inputs, each bench once. ``POSTCOUPLE_BENCH_FULL=1``
(``make bench``) switches to the full sizes (``size(smoke, full_size)``). :func:`import_verl` brings in
verl, a peer the benches compare against. The benches import nothing from
``tests/``.
"""

from __future__ import annotations

import importlib
import os
import sys
import types


def full() -> bool:
    """True when full-size benches were asked for (``POSTCOUPLE_BENCH_FULL=1``)."""
    return os.environ.get("POSTCOUPLE_BENCH_FULL", "") not in ("", "0")


def size(smoke: int, full_size: int) -> int:
    """``full_size`` under ``POSTCOUPLE_BENCH_FULL=1``, else ``smoke``."""
    return full_size if full() else smoke


def once(benchmark, fn, *args, **kwargs):
    """Time a slow peer with a single round (seconds per call at full size)."""
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=1, iterations=1)


def import_verl(module: str):
    """``importlib.import_module(module)`` for a verl module, or None if verl is absent.

    verl is installed with ``pip install --no-deps`` plus a few light deps (see
    the Makefile). Its package import wants ray, which the functions the benches
    call never touch: a stub module stands in (and is removed again if verl
    still does not import).
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    stubbed = "ray" not in sys.modules
    if stubbed:

        class _Stub(types.ModuleType):
            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                m = _Stub(f"{self.__name__}.{name}")
                sys.modules[m.__name__] = m
                return m

            def __call__(self, *a, **k):  # decorators (@ray.remote, ...) pass through
                return a[0] if a and callable(a[0]) and not k else (lambda f: f)

            def __mro_entries__(self, bases):
                return (object,)

        for n in ("ray", "ray.util", "ray.actor", "ray.experimental"):
            sys.modules[n] = _Stub(n)
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        if stubbed:
            for n in [k for k in sys.modules if k == "ray" or k.startswith("ray.")]:
                del sys.modules[n]
        return None
