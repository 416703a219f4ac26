"""Running the ``postcouple`` CLI in a subprocess (shared by the CLI end-to-end tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

__all__ = ["run_postcouple"]


def run_postcouple(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m postcouple *args`` with one torch thread, its output captured as text.

    ``kwargs`` go to :func:`subprocess.run` (``cwd``, ``timeout``).

    Example:
        >>> r = run_postcouple("--version")  # doctest: +SKIP
        >>> r.returncode
        0
    """
    return subprocess.run(
        [sys.executable, "-m", "postcouple", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        **kwargs,
    )
