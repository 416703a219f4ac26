"""The type stub python/postcouple/_core.pyi must describe the compiled module exactly."""

import ast
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import postcouple
from postcouple import _core

STUB = Path(postcouple.__file__).with_name("_core.pyi")


def _stub_names() -> dict[str, ast.AST]:
    tree = ast.parse(STUB.read_text())
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


def test_stub_and_module_have_the_same_names():
    stub = {n for n in _stub_names() if not n.startswith("_") or n == "__version__"}
    module = {n for n in dir(_core) if not n.startswith("_") or n == "__version__"}
    assert stub - module == set(), f"in _core.pyi but not in the module: {sorted(stub - module)}"
    assert module - stub == set(), f"in the module but not in _core.pyi: {sorted(module - stub)}"


def test_stub_signatures_match_the_module():
    for name, node in _stub_names().items():
        if not isinstance(node, ast.FunctionDef):
            continue
        obj = getattr(_core, name)
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):  # pragma: no cover - builtins without text_signature
            continue
        params = [p.name for p in sig.parameters.values()]
        a = node.args
        stub_params = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        if a.vararg:
            stub_params.append(a.vararg.arg)
        if a.kwarg:
            stub_params.append(a.kwarg.arg)
        assert sorted(params) == sorted(stub_params), (
            f"{name}: module {params} vs stub {stub_params}"
        )


def test_py_typed_is_shipped():
    assert STUB.with_name("py.typed").exists()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_mypy_stubtest_passes():
    # mypy's stubtest also compares argument kinds, defaults and constants' types, which
    # the name checks above do not; scripts/stubtest.sh runs the same command by hand.
    root = Path(__file__).parent
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "postcouple._core",
            "--allowlist",
            str(root / "stubtest_allowlist.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
