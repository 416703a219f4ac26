"""Importing verl without its heavy stack, for the tests and the benches.

verl is installed with ``pip install --no-deps`` plus a few light deps (see the
Makefile). Its package import wants ray, which the verl functions we compare
against never touch: a stub module stands in. Both ``tests/verl_import.py`` and
``benches/benchutil.py`` re-export :func:`import_verl` from here, so the benches
need nothing from ``tests/``.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["import_verl"]


def import_verl(module: str):
    """``importlib.import_module(module)`` for a verl module, or None if verl is absent.

    verl is installed with ``pip install --no-deps`` plus a few light deps (see
    the Makefile). Its package import wants ray, which the functions the tests
    and benches call never touch: a stub module stands in (and is removed again
    if verl still does not import).

    Example:
        >>> core_algos = import_verl("verl.trainer.ppo.core_algos")  # None without verl
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
