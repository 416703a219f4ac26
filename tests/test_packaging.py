"""The release artefacts of `make wheel`, as a user gets them.

Runs when ``POSTCOUPLE_WHEEL_DIR`` names the folder ``make wheel`` wrote (CI:
``make wheel test-wheel``); otherwise skipped, since building wheels takes minutes.

- the x86_64 wheel, installed into a fresh venv holding only numpy: rewards,
  advantages and packing import and compute; torch is never imported; the
  commands that need the training extras say how to install them (exit 2);
- the wheels' metadata: abi3, manylinux_2_17 in the file name, LICENSE inside,
  numpy the only unconditional dependency;
- the sdist holds what a build from source needs (``make wheel`` builds the
  wheels from it, so that it builds is shown there).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

WHEEL_DIR = os.environ.get("POSTCOUPLE_WHEEL_DIR", "")
pytestmark = pytest.mark.skipif(
    not WHEEL_DIR, reason="set POSTCOUPLE_WHEEL_DIR to the dist/ of `make wheel`"
)


def _dist() -> Path:
    d = Path(WHEEL_DIR)
    if not d.is_dir():
        pytest.fail(f"POSTCOUPLE_WHEEL_DIR={WHEEL_DIR}: no such folder")
    return d


def _wheels() -> list[Path]:
    ws = sorted(_dist().glob("postcouple-*.whl"))
    assert ws, f"no wheel in {WHEEL_DIR}"
    return ws


def test_wheels_are_abi3_manylinux2014_with_license():
    for w in _wheels():
        assert "-cp310-abi3-" in w.name and "manylinux_2_17_" in w.name, w.name
        with zipfile.ZipFile(w) as z:
            names = z.namelist()
            meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert any(n.endswith("_core.abi3.so") for n in names)
        assert any("dist-info" in n and Path(n).name.startswith("LICENSE") for n in names), names
        assert "postcouple/py.typed" in names
        requires = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
        unconditional = [r for r in requires if "extra ==" not in r]
        assert unconditional == ["Requires-Dist: numpy>=1.22"], unconditional
        assert "License-Expression: Apache-2.0" in meta or "License: Apache-2.0" in meta


def test_sdist_holds_the_sources():
    (sdist,) = _dist().glob("postcouple-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for need in (
        "pyproject.toml",
        "Cargo.toml",
        "Cargo.lock",
        "LICENSE",
        "README.md",
        "rust/lib.rs",
        "python/postcouple/__init__.py",
        "python/postcouple/py.typed",
    ):
        assert need in names, need
    assert not any(n.startswith(("target/", ".venv/")) or n.endswith(".so") for n in names)


def _host_wheel() -> Path:
    arch = platform.machine()
    ws = [w for w in _wheels() if w.name.endswith(f"_{arch}.whl")]
    if not ws:
        pytest.skip(f"no wheel for this machine's {arch} in {WHEEL_DIR}")
    return ws[0]


CHECK = r"""
import importlib.util, sys
import numpy as np
from postcouple.advantages import compute_advantages, grpo, rloo
from postcouple.packing import balance, collate_packed, pack
from postcouple.rewards import extract_answer, format_reward, label_reward, math_reward

assert importlib.util.find_spec("torch") is None, "torch is installed: not a numpy-only venv"
r = math_reward(["so the answer is $1,234.", "\\boxed{\\frac12}", "no idea"], ["1234", "0.5", "3"])
assert r.tolist() == [1.0, 1.0, 0.0], r
assert extract_answer("The answer is 42.") == "42"
assert label_reward(["<answer>yes</answer>"], ["yes"], mode="tag").tolist() == [1.0]
assert format_reward(["<think>a</think><answer>b</answer>"]).tolist() == [1.0]
a = grpo(np.array([1.0, 0.0, 1.0, 1.0]), group_size=2)
assert np.allclose(a, [0.7071, -0.7071, 0.0, 0.0], atol=1e-3), a
assert np.allclose(rloo(np.array([1.0, 0.0]), group_size=2), [1.0, -1.0])
A = compute_advantages("rloo", np.array([1.0, 0.0]), np.ones((2, 3)), group_size=2)
assert A.shape == (2, 3)
p = pack([5, 3, 4, 2, 6], capacity=10)
assert (p.num_bins, [b.tolist() for b in p.bins]) == (2, [[2, 4], [0, 1, 3]])
batch = collate_packed([[1, 2, 3], [4, 5]], pack([3, 2], 8), prompt_lengths=[1, 1])
assert batch[0]["labels"].tolist() == [[-100, 2, 3, -100, 5]]
assert batch[0]["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
parts, sums = balance([4, 3, 3, 2], k=2)
assert sorted(sums.tolist()) == [6, 6]
assert "torch" not in sys.modules
print("numpy-only OK")
"""


def test_wheel_works_with_only_numpy(tmp_path):
    wheel = _host_wheel()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py, pip = venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "pip", "-q"]
    import numpy

    # numpy from the pip cache (the repo's install fetched it), the wheel from dist/ only
    subprocess.run([*pip, "install", f"numpy=={numpy.__version__}"], check=True)
    subprocess.run([*pip, "install", "--no-index", "--no-deps", str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run(
        [str(py), "-c", CHECK], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert r.returncode == 0 and "numpy-only OK" in r.stdout, r.stderr[-3000:]

    exe = str(venv / "bin" / "postcouple")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("postcouple "), r.stderr
    # --help needs only the standard library
    r = subprocess.run([exe, "train", "--help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "--schedule" in r.stdout, r.stderr
    run = ["train", "--model", "tiny", "--task", "arith", "--out", str(tmp_path / "run")]
    for cmd in (run, ["coupling"], ["config", "--show"]):
        r = subprocess.run([exe, *cmd], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        (line,) = r.stderr.splitlines()
        assert line.startswith(f"postcouple {cmd[0]}: error: ") and line.endswith(
            "pip install 'postcouple[train]'"
        ), line
    r = subprocess.run(
        [exe, "bench", "--n", "200", "--repeat", "1"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and "numpy, vectorised" in r.stdout, r.stderr[-2000:]
