"""Importing verl without its heavy stack (shared by the tests and benches).

verl is installed with ``pip install --no-deps`` plus a few light deps (see the
Makefile). Its package import wants ray, which the functions we compare
against never touch: a stub module stands in.
"""

from __future__ import annotations

import importlib
import sys
import types


def import_verl(module: str):
    """``importlib.import_module(module)`` for a verl module, or None if verl is absent."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    if "ray" not in sys.modules:

        class _Stub(types.ModuleType):
            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                m = _Stub(f"{self.__name__}.{name}")
                sys.modules[m.__name__] = m
                return m

            def __call__(self, *a, **k):
                return a[0] if a and callable(a[0]) and not k else (lambda f: f)

            def __mro_entries__(self, bases):
                return (object,)

        for n in ("ray", "ray.util", "ray.actor", "ray.experimental"):
            sys.modules[n] = _Stub(n)
        stubbed = True
    else:
        stubbed = False
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        if stubbed:
            for n in [k for k in sys.modules if k == "ray" or k.startswith("ray.")]:
                del sys.modules[n]
        return None
