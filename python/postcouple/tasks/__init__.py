"""Tasks: expert data plus a verifier (see :mod:`postcouple.tasks.base`).

``get_task(name, **options)`` builds one by name:

- ``"arith"`` — the embedded synthetic arithmetic task (the default; no files);
- ``"cola"``, ``"gsm8k"``, ``"math"``, ``"jsonl"`` — loaders for real data
  (``path=`` a file or folder, e.g. ``../shared/data/cola``), scored by the
  Rust verifiers of ``postcouple.rewards``.
"""

from __future__ import annotations

import importlib
from typing import Any

from postcouple.tasks.base import Example, Task

__all__ = ["TASKS", "Example", "Task", "get_task"]

#: name -> (module, class)
TASKS: dict[str, tuple[str, str]] = {
    "arith": ("postcouple.tasks.arith", "ArithTask"),
    "cola": ("postcouple.tasks.data", "ColaTask"),
    "gsm8k": ("postcouple.tasks.data", "Gsm8kTask"),
    "math": ("postcouple.tasks.data", "MathTask"),
    "jsonl": ("postcouple.tasks.data", "JsonlTask"),
}


def get_task(name: str, **options: Any) -> Task:
    """Build a task by name with its options (unknown options are a ``TypeError``)."""
    if name not in TASKS:
        raise ValueError(f"task: unknown task {name!r}; valid: {sorted(TASKS)}")
    mod, cls = TASKS[name]
    klass = getattr(importlib.import_module(mod), cls)
    try:
        return klass(**options)
    except TypeError as e:
        raise TypeError(f"task {name!r}: {e}") from None
