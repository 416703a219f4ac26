"""Every ```python block of README.md runs as written: in order, in one namespace.

Offline (HF_HUB_OFFLINE), one thread, in a temporary directory (the blocks
write runs/...). A block that stops is reported with its first line number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


def test_readme_has_python_blocks():
    assert len(_blocks()) >= 5


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ns: dict = {"__name__": "readme"}
    for line, code in _blocks():
        try:
            exec(compile(code, f"README.md:{line}", "exec"), ns)
        except Exception as e:
            raise AssertionError(f"README.md block at line {line} failed: {e!r}") from e
