"""math_equal on products and quotients of literals and factorials, against
Python's exact integers: the prime-exponent path (past the 8,192-bit exact
range, `1980 \\cdot 1979!` vs `1980!`) and the big-integer path below it must
both say "equal" exactly when the fractions are equal."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postcouple.rewards import math_equal

# a factor: (kind, n, power); factorials reach past 900! (the big-integer cap)
_fact = st.tuples(st.just("fact"), st.integers(0, 2500), st.sampled_from([1, -1, 2]))
_lit = st.tuples(st.just("lit"), st.integers(1, 5000), st.sampled_from([1, -1]))
_mono = st.tuples(st.booleans(), st.lists(st.one_of(_fact, _lit), min_size=1, max_size=4))


def value(m) -> Fraction:
    neg, factors = m
    v = Fraction(1)
    for kind, n, e in factors:
        base = math.factorial(n) if kind == "fact" else n
        v *= Fraction(base) ** e
    return -v if neg else v


def latex(m) -> str:
    neg, factors = m
    num, den = [], []
    for kind, n, e in factors:
        t = f"{n}!" if kind == "fact" else str(n)
        if e == 2:
            num.append(f"({t})^{{2}}")
        else:
            (num if e > 0 else den).append(t)
    top = " \\cdot ".join(num) or "1"
    bottom = " \\cdot ".join(den)
    s = f"\\frac{{{top}}}{{{bottom}}}" if den else top
    return f"-{s}" if neg else s


def rewrite(m, how: list[int]):
    """The same value written another way: n! = n·(n-1)! = (n+1)!/(n+1)."""
    neg, factors = m
    out = []
    for (kind, n, e), k in zip(factors, how, strict=False):
        if kind == "fact" and abs(e) == 1 and n >= 1 and k == 1:
            out += [("lit", n, e), ("fact", n - 1, e)]
        elif kind == "fact" and abs(e) == 1 and k == 2:
            out += [("fact", n + 1, e), ("lit", n + 1, -e)]
        else:
            out.append((kind, n, e))
    return neg, out[::-1]


def nudge(m, i: int, d: int):
    """A near miss: one factor's n moved by d (may or may not change the value)."""
    neg, factors = m
    factors = list(factors)
    kind, n, e = factors[i % len(factors)]
    factors[i % len(factors)] = (kind, max(1, n + d), e)
    return neg, factors


def check(a, b) -> None:
    truth = value(a) == value(b)
    sa, sb = latex(a), latex(b)
    assert math_equal(sa, sb) is truth, (sa, sb, truth)
    assert math_equal(sb, sa) is truth, (sb, sa, truth)


@settings(max_examples=150, deadline=None)
@given(_mono, st.lists(st.integers(0, 2), min_size=4, max_size=4))
def test_rewritten_monomials_are_equal(m, how):
    b = rewrite(m, how)
    assert value(b) == value(m)
    check(m, b)


@settings(max_examples=150, deadline=None)
@given(_mono, st.lists(st.integers(0, 2), min_size=4, max_size=4), st.integers(0, 3))
def test_near_misses_follow_the_exact_value(m, how, i):
    b = nudge(rewrite(m, how), i, 1)
    check(m, b)
    check(m, (not m[0], m[1]))  # the sign alone


@settings(max_examples=100, deadline=None)
@given(_mono, _mono)
def test_independent_monomials(a, b):
    check(a, b)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("1980 \\cdot 1979!", "1980!", True),
        ("\\frac{1001!}{1001}", "1000!", True),
        ("\\frac{2691}{2691!}", "\\frac{1}{2690!}", True),
        ("2000!", "1999!", False),
        ("2000 \\cdot 1999!", "2001!", False),
        ("2000!+1", "2000!", False),
        ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),
        ("-2000!", "2000!", False),
    ],
)
def test_factorial_identities(a, b, equal):
    assert math_equal(a, b) is equal
    assert math_equal(b, a) is equal
