"""``postcouple bench``: a one-minute, side-by-side look at the compiled core.

Times each Rust function against its plain-Python reference (and math-verify
when it is installed) on synthetic inputs made here, so it needs no data and
no torch. Best of ``--repeat`` runs, one thread; the ratio is the point (these
machines are noisy). The real, reproducible numbers are the pytest-benchmark
suites in ``benches/`` (``make bench``).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _row(name: str, ours: float, theirs: float, peer: str) -> str:
    return f"  {name:<34} {ours * 1e3:10.2f} ms  {peer:<22} {theirs * 1e3:10.2f} ms  {theirs / ours:8.1f}x"


def _completions(n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    comps, golds = [], []
    for i in range(n):
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        body = f"First, {a} times {b} is {a * b}. Then we add {a} to get {a * b + a}."
        ans = a * b + a
        tail = (
            f"The answer is ${ans:,}." if i % 2 else f"So the final answer is $\\boxed{{{ans}}}$."
        )
        comps.append(body + "\n" + tail)
        golds.append(str(ans if i % 5 else ans + 1))
    return comps, golds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="postcouple bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--n", type=int, default=100_000, help="rewards/lengths per advantage/packing case"
    )
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    if a.n < 100 or a.repeat < 1:
        p.error("--n must be >= 100 and --repeat >= 1")
    a.n -= a.n % 8  # whole groups of 8

    from postcouple.advantages import grpo
    from postcouple.packing import pack
    from postcouple.reference import advantages as ra
    from postcouple.reference import packing as rp
    from postcouple.reference import rewards as rr
    from postcouple.rewards import extract_answer, math_reward

    rng = np.random.default_rng(0)
    print(f"postcouple bench (n={a.n}, best of {a.repeat}, one thread)")
    print(f"  {'case':<34} {'postcouple':>13}  {'peer':<22} {'time':>13}  {'ratio':>9}")

    r = rng.random(a.n)
    groups = ra.group_members(a.n, 8)
    ours = _best(lambda: grpo(r, group_size=8), a.repeat)
    theirs = _best(lambda: ra.ref_grpo(r, groups), 1)
    print(_row("advantages.grpo (groups of 8)", ours, theirs, "Python reference"))

    lengths = np.clip(np.round(rng.lognormal(np.log(300), 1.0, a.n)), 1, 4096).astype(np.int64)
    ll = lengths.tolist()
    ours = _best(lambda: pack(lengths, 4096, strategy="ffd"), a.repeat)
    theirs = _best(lambda: rp.first_fit_decreasing(ll, 4096), 1)
    print(_row("packing.pack ffd (cap 4096)", ours, theirs, "Python FFD (naive)"))

    k = min(a.n, 5_000)
    comps, golds = _completions(k, random.Random(0))
    ours = _best(lambda: [extract_answer(c) for c in comps], a.repeat)
    theirs = _best(lambda: [rr.extract(c) for c in comps], a.repeat)
    print(_row(f"rewards.extract_answer ({k})", ours, theirs, "Python reference"))
    ours = _best(lambda: math_reward(comps, golds, num_threads=1), a.repeat)
    try:
        from math_verify import parse, verify
    except ImportError:
        print("  rewards.math_reward: math-verify not installed (pip install math-verify), no peer")
    else:
        m = min(k, 1_000)
        theirs = _best(
            lambda: [verify(parse(f"${g}$"), parse(c)) for c, g in zip(comps[:m], golds[:m])], 1
        )
        print(_row(f"rewards.math_reward ({k})", ours, theirs * k / m, "math-verify 0.9"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
