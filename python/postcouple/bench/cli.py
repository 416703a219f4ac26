"""``postcouple bench``: a one-minute, side-by-side look at the compiled core.

Each case is timed against its strongest peer first (vectorised numpy for the
advantage estimators, math-verify for the math reward when it is installed),
then against the plain-Python loop it replaces. Inputs are synthetic and made
here, so it needs no data and no torch. Best of --repeat runs, one thread; the
ratio is the point (shared machines are noisy). The reproducible figures are
the pytest-benchmark suites in the repository's benches/ (make bench).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import numpy as np

from postcouple._cli import ArgumentParser


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _case(name: str, ours: float) -> None:
    print(f"  {name:<34} {ours * 1e3:10.2f} ms")


def _peer(peer: str, theirs: float, ours: float) -> None:
    print(f"  {'':<34} {'':>13}  vs {peer:<26} {theirs * 1e3:10.2f} ms  {theirs / ours:8.1f}x")


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
    p = ArgumentParser(prog="postcouple bench", description=__doc__)
    p.add_argument(
        "--n", type=int, default=100_000, help="rewards / lengths per advantage and packing case"
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    a = p.parse_args(argv)
    if a.n < 100:
        p.error(f"--n: expected an integer >= 100, got {a.n}")
    if a.repeat < 1:
        p.error(f"--repeat: expected an integer >= 1, got {a.repeat}")
    a.n -= a.n % 8  # whole groups of 8

    from postcouple.advantages import grpo, rloo
    from postcouple.packing import pack
    from postcouple.reference import advantages as ra
    from postcouple.reference import packing as rp
    from postcouple.reference import rewards as rr
    from postcouple.rewards import extract_answer, math_reward

    rng = np.random.default_rng(0)
    print(f"postcouple bench (n={a.n}, best of {a.repeat}, one thread; ratio = peer / postcouple)")

    r = rng.random(a.n)
    groups = ra.group_members(a.n, 8)
    ours = _best(lambda: grpo(r, group_size=8), a.repeat)
    _case("advantages.grpo (groups of 8)", ours)
    _peer("numpy, vectorised", _best(lambda: ra.grpo_vectorized(r, 8), a.repeat), ours)
    _peer("Python loop over groups", _best(lambda: ra.ref_grpo(r, groups), 1), ours)

    ours = _best(lambda: rloo(r, group_size=8), a.repeat)
    _case("advantages.rloo (groups of 8)", ours)
    _peer("numpy, vectorised", _best(lambda: ra.rloo_vectorized(r, 8), a.repeat), ours)

    lengths = np.clip(np.round(rng.lognormal(np.log(300), 1.0, a.n)), 1, 4096).astype(np.int64)
    ll = lengths.tolist()
    ours = _best(lambda: pack(lengths, 4096, strategy="ffd"), a.repeat)
    _case("packing.pack ffd (capacity 4096)", ours)
    _peer("Python FFD (segment tree)", _best(lambda: rp.first_fit_decreasing(ll, 4096), 1), ours)

    k = min(a.n, 5_000)
    comps, golds = _completions(k, random.Random(0))
    ours = _best(lambda: math_reward(comps, golds, num_threads=1), a.repeat)
    _case(f"rewards.math_reward ({k})", ours)
    try:
        from math_verify import parse, verify
    except ImportError:
        print(f"  {'':<34} {'':>13}  vs math-verify: not installed (pip install math-verify)")
    else:
        m = min(k, 1_000)  # math-verify is ~1,000x slower: time a slice, scale up
        t = _best(
            lambda: [verify(parse(f"${g}$"), parse(c)) for c, g in zip(comps[:m], golds[:m])], 1
        )
        _peer("math-verify", t * k / m, ours)
    ours = _best(lambda: [extract_answer(c) for c in comps], a.repeat)
    _case(f"rewards.extract_answer ({k})", ours)
    _peer("Python regexes (reference)", _best(lambda: [rr.extract(c) for c in comps], 1), ours)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
