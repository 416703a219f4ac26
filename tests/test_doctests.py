"""The docstring examples of every postcouple module run as tests.

Modules are discovered by walking the package, so a new module's examples run without
being listed here. A few modules' examples already run in their own test file (next to
the tests of the same code); those are listed in ``RUN_ELSEWHERE`` and skipped here so
that no example runs twice. A test below checks that list against the files it names.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import postcouple

TESTS = Path(__file__).parent

#: module -> the test file that already runs its doctests (``doctest.testmod``)
RUN_ELSEWHERE = {
    "postcouple.advantages": "test_advantages.py",
    "postcouple.rewards.combine": "test_advantages.py",
    "postcouple.packing": "test_packing.py",
    "postcouple.attention": "test_attention.py",
    "postcouple.integrations.trl": "test_integrations_trl.py",
    "postcouple.integrations._hf": "test_integrations_trl.py",
    "postcouple.rewards.trl": "test_rewards_peers.py",
    "postcouple.rewards.verl": "test_rewards_peers.py",
}

#: a module whose source imports torch (anywhere) is skipped, not failed, without torch
_NEEDS_TORCH = "import torch"


def _modules_with_examples() -> list[str]:
    """Names of postcouple modules whose source holds a ``>>>`` example.

    The source is read before importing, so modules without examples (and their
    heavy imports) are never loaded here.
    """
    out = []
    for info in pkgutil.walk_packages(postcouple.__path__, "postcouple."):
        spec = importlib.util.find_spec(info.name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue  # the compiled _core has no Python source
        if ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
            out.append(info.name)
    return sorted(out)


MODULES = _modules_with_examples()


def test_discovery_finds_the_known_modules():
    # guards the walk itself: if it found nothing, every test below would vanish
    assert {"postcouple.packing", "postcouple.rewards", "postcouple.train.schedule"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(RUN_ELSEWHERE))
def test_modules_skipped_here_are_run_elsewhere(name):
    assert name in MODULES, f"{name} has no examples any more; drop it from RUN_ELSEWHERE"
    text = (TESTS / RUN_ELSEWHERE[name]).read_text(encoding="utf-8")
    assert "doctest.testmod" in text, f"{RUN_ELSEWHERE[name]} no longer runs doctests"
    short = name.rsplit(".", 1)[-1]
    assert short in text, f"{RUN_ELSEWHERE[name]} does not mention {short}"


@pytest.mark.parametrize("name", [m for m in MODULES if m not in RUN_ELSEWHERE])
def test_doctests(name):
    source = Path(importlib.util.find_spec(name).origin).read_text(encoding="utf-8")
    if _NEEDS_TORCH in source:
        pytest.importorskip("torch")
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0, f"{name}: no example was collected"
    assert res.failed == 0, f"{name}: {res.failed} of {res.attempted} examples failed"
