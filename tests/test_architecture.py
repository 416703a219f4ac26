"""ARCHITECTURE.md's import rules, checked: what the numpy-only modules never load."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import postcouple

PKG = Path(postcouple.__file__).parent

#: modules that must import neither torch nor transformers (ARCHITECTURE.md, "What imports what")
NUMPY_ONLY = [
    "postcouple",
    "postcouple.advantages",
    "postcouple.packing",
    "postcouple.rewards",
    "postcouple.rewards.combine",
    "postcouple.rewards.trl",
    "postcouple.rewards.verl",
    "postcouple.tasks",
    "postcouple.tasks.arith",
    "postcouple.tasks.data",
    "postcouple.coupling.cli",
    "postcouple.coupling.diagnostics",
    "postcouple.coupling.experiment",
    "postcouple.coupling.report",
    "postcouple.cli",
    "postcouple.train",
    "postcouple.train.config",
    "postcouple.train.schedule",
    "postcouple.train.interrupt",
    "postcouple.train.metrics",
]

#: the only modules that may import the compiled core (plus the modules of rewards/)
CORE_USERS = {"__init__.py", "_arrays.py", "advantages.py", "packing.py"}


@pytest.mark.parametrize("name", NUMPY_ONLY)
def test_numpy_only_modules_do_not_import_torch(name):
    code = (
        f"import sys, {name}\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"importing {name} loads {out.stdout.strip()}"


def _imports_core(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module.endswith("_core") or any(a.name == "_core" for a in node.names):
                return True
        elif isinstance(node, ast.Import) and any(a.name.endswith("._core") for a in node.names):
            return True
    return False


def test_only_the_wrappers_import_the_core():
    users = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if _imports_core(p)}
    others = {u for u in users if u not in CORE_USERS and not u.startswith("rewards/")}
    assert others == set(), f"import postcouple._core outside the wrappers: {sorted(others)}"
    assert {"advantages.py", "packing.py"} <= users
    assert any(u.startswith("rewards/") for u in users)
