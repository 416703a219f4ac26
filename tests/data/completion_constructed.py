"""Constructed categories of make_math_completions.py: the gold and its near misses built together."""

from __future__ import annotations

import math
import random
from fractions import Fraction

from completion_helpers import (
    Corpus,
    _numbers_work,
    fill,
    frac_tex,
    int_misses,
    main_styles,
    styled,
    terminating,
)

# --------------------------------------------------------------------------
# constructed categories (the gold and the near misses built together)


def _distinct(r: random.Random, k: int, lo: int = -12, hi: int = 12) -> list[int]:
    return r.sample([v for v in range(lo, hi + 1)], k)


def _tex_list(vals) -> str:
    return ", ".join(str(v) for v in vals)


def _styled_pair(r, pos: str, neg: str, pool=None, mention=None):
    style = r.choice(pool or main_styles())
    work = _numbers_work(r)
    return style, [
        (styled(style, pos, work, r), True),
        (styled(style, neg, work, r, mention=mention), False),
    ]


def build_equivalence(c: Corpus, rng: random.Random) -> None:
    no_prose = ["minerva", "r1_think", "boxed_cot", "bold"]

    # ---------------------------------------------------------------- multi_box
    def multi_box(r):
        k = r.random()
        work = _numbers_work(r)
        if k < 0.6:  # the solutions of an equation, one box each (an unordered list)
            vals = _distinct(r, r.choice([2, 2, 3]))
            gold = _tex_list(r.sample(vals, len(vals)))
            order = r.sample(vals, len(vals))
            joins = [", ", " and ", " \\quad\\text{and}\\quad ", ", "]
            j = r.choice(joins)

            def boxes(vs):
                inner = j.join(f"\\boxed{{{v}}}" for v in vs)
                return r.choice(
                    [
                        f"{work}\nSo the solutions are ${inner}$.",
                        f"{work}\n\n**Final Answer**\nThe solutions are ${inner}$.",
                        f"{work}\nHence $x = {inner}$.",
                    ]
                )

            wrong = order[:]
            wrong[r.randrange(len(wrong))] += r.choice([1, -1])
            negs = [order[:-1], wrong, order + [max(vals) + r.randint(1, 5)]]
            if set(wrong) == set(vals):
                negs.remove(wrong)
            return gold, "numina", [(boxes(order), True), (boxes(r.choice(negs)), False)]
        # labelled parts: `\boxed{k = 45} and \boxed{n = 2}`
        a, b = r.sample("kmnpqab", 2)
        u, v = r.sample(range(1, 60), 2)
        gold = r.choice([f"{a} = {u}, {b} = {v}", f"{a}={u}, {b}={v}", f"{u}, {v}"])
        pos = f"{work}\nTherefore $\\boxed{{{a} = {u}}}$ and $\\boxed{{{b} = {v}}}$."
        negs = [
            f"{work}\nTherefore $\\boxed{{{a} = {v}}}$ and $\\boxed{{{b} = {u}}}$.",
            f"{work}\nTherefore $\\boxed{{{a} = {u}}}$ and $\\boxed{{{b} = {v + 1}}}$.",
            f"{work}\nTherefore $\\boxed{{{a} = {u}}}$.",
        ]
        if "=" not in gold:  # a bare gold does not say which is which: no swap
            negs = negs[1:]
        return gold, "numina", [(pos, True), (r.choice(negs), False)]

    fill(c, "multi_box", multi_box, rng)

    # ---------------------------------------------------------------- list_connectives
    def list_connectives(r):
        if r.random() < 0.4:  # plus-minus pairs
            n = r.randint(1, 30)
            golds = [f"\\pm {n}", f"{n}, -{n}", f"-{n}, {n}", f"\\pm{n}"]
            preds = [
                f"{n} \\text{{ or }} -{n}",
                f"{n} or -{n}",
                f"\\pm {n}",
                f"{n}, -{n}",
                f"x = \\pm {n}",
                f"x={n} \\text{{ or }} x=-{n}",
                f"-{n} \\text{{ and }} {n}",
            ]
            negs = [f"{n}", f"-{n}", f"{n} \\text{{ or }} -{n + 1}", f"\\pm {n + 1}", f"{n} or {n}"]
            gold, pos = r.choice(golds), r.choice(preds)
            style, items = _styled_pair(r, pos, r.choice(negs), no_prose)
            return gold, style, items
        vals = _distinct(r, r.choice([2, 2, 3]))
        gold = r.choice(
            [
                _tex_list(vals),
                " \\text{ or } ".join(f"x={v}" for v in vals),
                ",".join(map(str, vals)),
            ]
        )
        order = r.sample(vals, len(vals))
        conn = r.choice(
            [
                " \\text{ or } ",
                " or ",
                " \\text{ and } ",
                " and ",
                " \\quad\\text{and}\\quad ",
                ", ",
            ]
        )
        lab = r.random() < 0.4

        def show(vs):
            return conn.join((f"x = {v}" if lab else str(v)) for v in vs)

        wrong = order[:]
        wrong[-1] = -wrong[-1] if wrong[-1] != 0 and -wrong[-1] not in vals else wrong[-1] + 1
        negs = [order[:-1], wrong, order + [max(vals) + 2]]
        negs = [n for n in negs if set(n) != set(vals)]
        style, items = _styled_pair(r, show(order), show(r.choice(negs)), no_prose)
        return gold, style, items

    fill(c, "list_connectives", list_connectives, rng)

    # ---------------------------------------------------------------- labelled
    def labelled(r):
        k = r.randrange(6)
        if k == 0:
            p, q = r.choice([("p", "q"), ("x", "y"), ("a", "b"), ("m", "n")])
            u, v = _distinct(r, 2, -9, 20)
            gold = r.choice([f"({u},{v})", f"({u}, {v})"])
            pos = r.choice(
                [f"({p},{q})=({u},{v})", f"({p}, {q}) = ({u}, {v})", f"{p}={u}, {q}={v}"]
            )
            neg = r.choice(
                [f"({p},{q})=({v},{u})", f"({p}, {q}) = ({u}, {v + 1})", f"{p}={v}, {q}={u}"]
            )
        elif k == 1:
            i, j = r.sample(range(1, 60), 2)
            u, v = r.sample(range(1, 40), 2)
            ai, aj = f"a_{{{i}}}" if i > 9 else f"a_{i}", f"a_{{{j}}}" if j > 9 else f"a_{j}"
            gold = f"{ai} = {u}, {aj} = {v}"
            pos = f"{aj} = {v}, {ai} = {u}"
            neg = r.choice([f"{ai} = {v}, {aj} = {u}", f"{aj} = {v}, {ai} = {u + 1}"])
        elif k == 2:
            s1, s2 = r.sample(["AB", "CD", "BC", "PQ", "AC"], 2)
            u, v = r.sample(range(2, 30), 2)
            gold = f"{u}, {v}"
            pos = r.choice([f"{s1}={u},{s2}={v}", f"{s1} = {u}, {s2} = {v}"])
            neg = r.choice([f"{s1}={u},{s2}={v + 1}", f"{s1} = {u - 1}, {s2} = {v}"])
        elif k == 3:
            f = r.choice(["f(x)", "g(2)", "f(3)", "h(1)"])
            u = r.randint(-20, 50)
            gold, pos, neg = str(u), f"{f}={u}", f"{f} = {r.choice(int_misses(u, r))}"
        elif k == 4:
            u, v = r.sample(range(1, 40), 2)
            if math.gcd(u, v) != 1:
                return "", "", []
            gold = f"{u}:{v}"
            pos = r.choice([f"V_1:V_2={u}:{v}", f"{u} : {v}", f"AB:BC = {u}:{v}"])
            neg = r.choice([f"V_1:V_2={v}:{u}", f"{v}:{u}", f"{u + 1}:{v}"])
        else:
            var = r.choice(["n", "x", "k", "t"])
            u = r.randint(-20, 99)
            gold, pos, neg = str(u), f"{var} = {u}", f"{var} = {r.choice(int_misses(u, r))}"
        style, items = _styled_pair(r, pos, neg, no_prose)
        return gold, style, items

    fill(c, "labelled", labelled, rng)

    # ---------------------------------------------------------------- intervals
    def interval_inequality(r):
        a, b = sorted(r.sample(range(-10, 15), 2))
        k = r.randrange(8)
        if k == 0:
            gold = r.choice([f"[{a},{b}]", f"x \\in [{a},{b}]", f"[{a}, {b}]"])
            pos = r.choice(
                [
                    f"{a} \\le x \\le {b}",
                    f"x \\in [{a}, {b}]",
                    f"{a} \\leq x \\leq {b}",
                    f"[{a},{b}]",
                ]
            )
            neg = r.choice(
                [
                    f"({a},{b}]",
                    f"[{a},{b})",
                    f"{a} < x \\le {b}",
                    f"[{a},{b - 1}]",
                    f"x \\in [{a + 1},{b}]",
                ]
            )
        elif k == 1:
            gold = f"{a} \\le x \\le {b}"
            pos = r.choice([f"[{a},{b}]", f"x \\in [{a},{b}]"])
            neg = r.choice([f"({a},{b})", f"[{a},{b + 1}]"])
        elif k == 2:
            gold = r.choice([f"[{a},\\infty)", f"x \\ge {a}"])
            pos = r.choice([f"x \\geq {a}", f"x >= {a}", f"x \\ge {a}", f"[{a}, \\infty)"])
            neg = r.choice([f"x > {a}", f"x \\geq {a + 1}", f"x \\le {a}", f"({a},\\infty)"])
        elif k == 3:
            gold = r.choice([f"(-\\infty,{a})", f"x < {a}"])
            pos = r.choice([f"x < {a}", f"x \\lt {a}", f"(-\\infty, {a})"])
            neg = r.choice([f"x \\le {a}", f"x < {a + 1}", f"(-\\infty,{a}]", f"x > {a}"])
        elif k == 4:
            gold = f"(-\\infty,{a})\\cup({a},\\infty)"
            pos = r.choice([f"x \\neq {a}", f"x != {a}", f"x \\ne {a}"])
            neg = r.choice([f"x \\neq {a + 1}", f"x < {a}", f"x > {a}"])
        elif k == 5:
            gold = f"(-\\infty, {a}) \\cup ({b}, \\infty)"
            pos = r.choice([f"x < {a} \\text{{ or }} x > {b}", f"(-\\infty,{a})\\cup({b},\\infty)"])
            neg = r.choice(
                [
                    f"x \\le {a} \\text{{ or }} x > {b}",
                    f"(-\\infty,{a})\\cup[{b},\\infty)",
                    f"(-\\infty,{a})",
                ]
            )
        elif k == 6:
            u, v = sorted(r.sample(range(0, 6), 2))
            gold = f"({u},{v})"
            pos = f"{u}<f(x)<{v}"
            neg = r.choice([f"{u}\\le f(x)<{v}", f"{u}<f(x)\\le {v}", f"{u}<f(x)<{v + 1}"])
        else:
            lo = r.randint(1, 4)
            hi = Fraction(r.randint(2 * lo + 1, 4 * lo + 3), 2)
            h = frac_tex(hi)
            gold = f"[-{h},-{lo}]\\cup[{lo},{h}]"
            pos = f"{lo}\\le|z|\\le{h}"
            neg = r.choice([f"{lo}<|z|\\le{h}", f"{lo}\\le z\\le{h}", f"{lo}\\le|z|<{h}"])
        if a == b:
            return "", "", []
        style, items = _styled_pair(r, pos, neg, no_prose)
        return gold, style, items

    fill(c, "interval_inequality", interval_inequality, rng)
    build_values(c, rng)


def build_values(c: Corpus, rng: random.Random) -> None:
    no_prose = ["minerva", "r1_think", "boxed_cot", "bold"]

    # ---------------------------------------------------------------- letter_choice
    def letter_choice(r):
        g, w = r.sample("ABCDE", 2)
        gold = r.choice([g, f"({g})", f"\\text{{({g})}}", f"\\textbf{{({g})}}", f"\\text{{{g}}}"])
        other = r.choice([x for x in "ABCDE" if x not in (g, w)])
        work = f"Option ({w}) gives {r.randint(2, 40)}, which is too small. Option ({other}) fails as well."
        forms = [
            ("prose", "{work}\nThe answer is ({x})."),
            ("prose", "{work}\nThe answer is $\\text{{{x}}}$."),
            ("boxed_cot", "{work}\nSo the answer is $\\boxed{{({x})}}$."),
            ("boxed_cot", "{work}\nSo the answer is $\\boxed{{\\textbf{{({x})}}}}$."),
            ("boxed_cot", "{work}\nSo the answer is $\\boxed{{{x}}}$."),
            (
                "minerva",
                "{work}\nFinal Answer: The final answer is $\\text{{({x})}}$. I hope it is correct.",
            ),
            ("bold", "{work}\n\n**Final Answer:** ({x})"),
            ("r1_think", "<think>\n{work}\n</think>\n\n$\\boxed{{{x}}}$"),
            ("letter", "{work}\n\\textbf{{({x})}}"),
        ]
        style, form = r.choice(forms)
        return (
            gold,
            style,
            [(form.format(work=work, x=g), True), (form.format(work=work, x=w), False)],
        )

    fill(c, "letter_choice", letter_choice, rng)

    # ---------------------------------------------------------------- decimal_fraction
    def decimal_fraction(r):
        q = r.choice([3, 6, 7, 9, 11, 12, 13, 14, 15, 17, 18, 21, 22, 24, 27, 33])
        p = r.randint(1, 3 * q)
        fr = Fraction(p, q)
        k = r.random()
        if k < 0.3:  # exact on both sides: a terminating decimal
            p2, q2 = r.randint(1, 40), r.choice([2, 4, 5, 8, 16, 20, 25, 40])
            fr = Fraction(p2, q2)
            if fr.denominator == 1:
                return "", "", []
            dec = terminating(fr)
            wrong = fr + Fraction(1, fr.denominator)
            if r.random() < 0.5:
                gold, pos, neg = frac_tex(fr), dec, terminating(wrong)
            else:
                gold, pos, neg = dec, frac_tex(fr), frac_tex(wrong)
        else:
            if fr.denominator in (1, 2, 4, 5, 8, 10) or terminating(fr):
                return "", "", []
            sig = r.choice([16, 16, 15, 12])
            pos = f"{float(fr):.{sig}g}"
            wrongs = [Fraction(p + 1, q), Fraction(p, q + 1), Fraction(p, q - 1)]
            wv = r.choice([w for w in wrongs if abs(w - fr) / fr > Fraction(1, 100)])
            neg = f"{float(wv):.4g}" if r.random() < 0.6 else f"{float(wv):.16g}"
            gold = frac_tex(fr)
            if "e" in pos or "e" in neg:
                return "", "", []
        style, items = _styled_pair(r, pos, neg)
        return gold, style, items

    fill(c, "decimal_fraction", decimal_fraction, rng)

    # ---------------------------------------------------------------- repeating / scientific
    def repeating_scientific(r):
        if r.random() < 0.5:
            head = r.choice(["", "", str(r.randint(0, 9))])
            rep = r.choice(["142857", str(r.randint(1, 8)), f"{r.randint(1, 98):02d}"])
            whole = r.choice([0, 0, 1, 2])

            def value(w: int, h: str, rp: str) -> Fraction:
                num = int(h + rp) - int(h or "0")
                return w + Fraction(num, 10 ** len(h) * (10 ** len(rp) - 1))

            val = value(whole, head, rep)
            pos = f"{whole}.{head}\\overline{{{rep}}}"
            rep2 = rep[:-1] + str((int(rep[-1]) + 1) % 9)
            if rep2 == rep or set(rep2) == {"0"}:
                return "", "", []
            if r.random() < 0.5:
                neg = f"{whole}.{head}\\overline{{{rep2}}}"
                assert value(whole, head, rep2) != val
            else:
                neg = f"{whole + 1}.{head}\\overline{{{rep}}}"
            if r.random() < 0.7:
                gold = frac_tex(val)
            else:  # the gold is the repeating decimal, the prediction a fraction
                gold, pos = pos, frac_tex(val)
                neg = frac_tex(value(whole, head, rep2) if "overline{" + rep2 in neg else val + 1)
            style, items = _styled_pair(r, pos, neg)
            return gold, style, items
        mant_i = r.randint(11, 99)
        e = r.randint(-6, 7)
        mant = Fraction(mant_i, 10)
        val = mant * Fraction(10) ** e
        m = f"{mant_i // 10}.{mant_i % 10}"
        if mant_i % 10 == 0:
            return "", "", []
        pos = r.choice(
            [f"{m}e{e}", f"{m}\\times 10^{{{e}}}", f"{m} \\times 10^{{{e}}}", f"{m}E{e}"]
        )
        neg = r.choice(
            [
                f"{m}e{e + 1}",
                f"{m}\\times 10^{{{e - 1}}}",
                f"{mant_i // 10}.{(mant_i % 10 + 1) % 10}e{e}",
            ]
        )
        gold = str(val) if val.denominator == 1 else terminating(val)
        style, items = _styled_pair(r, pos, neg)
        return gold, style, items

    fill(c, "repeating_scientific", repeating_scientific, rng)

    # ---------------------------------------------------------------- big integers
    def big_integer(r):
        k = r.randrange(5)
        if k == 0:
            e = r.randint(64, 200)
            gold, pos, neg = (
                str(2**e),
                f"2^{{{e}}}",
                r.choice([f"2^{{{e}}}+1", f"2^{{{e + 1}}}", f"2^{{{e}}}-1"]),
            )
        elif k == 1:
            e = r.randint(64, 200)
            gold, pos, neg = f"2^{{{e}}}+1", str(2**e + 1), r.choice([str(2**e), str(2**e + 2)])
        elif k == 2:
            n = r.randint(21, 45)
            f = math.factorial(n)
            gold, pos, neg = str(f), f"{n}!", r.choice([str(f + 1), str(f - 1), f"{n + 1}!"])
        elif k == 3:
            e = r.randint(41, 120)
            gold, pos, neg = f"3^{{{e}}}", str(3**e), r.choice([str(3**e + 2), str(3**e - 1)])
        else:
            v = r.randint(10**19, 10**30)
            s = str(v)
            i = r.randrange(1, len(s) - 1)
            if s[i] == s[i + 1]:
                return "", "", []
            sw = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
            gold, pos, neg = s, r.choice([s, f"{v:,}"]), sw
        style, items = _styled_pair(r, pos, neg)
        return gold, style, items

    fill(c, "big_integer", big_integer, rng)
    build_values2(c, rng, no_prose)


def _matrix(rows: list[list[str]], env: str) -> str:
    body = " \\\\ ".join(" & ".join(x) for x in rows)
    if env in ("pmatrix", "bmatrix"):
        return f"\\begin{{{env}}} {body} \\end{{{env}}}"
    cols = "c" * len(rows[0])
    left, right = ("\\left[", "\\right]") if env == "array[" else ("\\left(", "\\right)")
    return f"{left}\\begin{{array}}{{{cols}}} {body} \\end{{array}}{right}"


def build_values2(c: Corpus, rng: random.Random, no_prose: list[str]) -> None:
    # ---------------------------------------------------------------- matrix
    def matrix(r):
        shape = r.choice([(2, 2), (2, 2), (3, 1), (2, 1), (2, 3), (3, 3)])
        vals = [[Fraction(r.randint(-9, 9)) for _ in range(shape[1])] for _ in range(shape[0])]
        if r.random() < 0.3:
            i, j = r.randrange(shape[0]), r.randrange(shape[1])
            vals[i][j] = Fraction(r.choice([-1, 1]) * r.randint(1, 9), r.choice([2, 3, 5, 7]))
            if vals[i][j].denominator == 1:
                return "", "", []
        gold = _matrix([[frac_tex(v) for v in row] for row in vals], "pmatrix")
        env = r.choice(["pmatrix", "bmatrix", "array[", "array("])
        slash = r.random() < 0.5

        def show(m):
            return _matrix(
                [
                    [
                        (
                            f"{v.numerator}/{v.denominator}"
                            if slash and v.denominator > 1
                            else frac_tex(v, "\\dfrac" if slash else "\\frac")
                        )
                        for v in row
                    ]
                    for row in m
                ],
                env,
            )

        negs = []
        off = [row[:] for row in vals]
        i, j = r.randrange(shape[0]), r.randrange(shape[1])
        off[i][j] += r.choice([1, -1])
        negs.append(off)
        if shape[0] == shape[1]:
            t = [list(x) for x in zip(*vals)]
            if t != vals:
                negs.append(t)
        if vals[0] != vals[1]:
            negs.append([vals[1], vals[0]] + vals[2:])
        style, items = _styled_pair(r, show(vals), show(r.choice(negs)), no_prose)
        return gold, style, items

    fill(c, "matrix", matrix, rng)

    # ---------------------------------------------------------------- empty set / reals
    empties = ["\\emptyset", "\\varnothing", "\\{\\}", "\\{ \\}"]
    reals = [
        "\\mathbb{R}",
        "(-\\infty,\\infty)",
        "(-\\infty, \\infty)",
        "(-\\infty, +\\infty)",
        "\\mathbb R",
    ]

    def empty_set_reals(r):
        if r.random() < 0.5:
            gold, pos = r.sample(empties, 2)
            neg = r.choice(["\\{0\\}", "0", "\\mathbb{R}", "\\{\\emptyset\\}"[:0] or "\\{1\\}"])
        else:
            gold, pos = r.sample(reals, 2)
            neg = r.choice(
                [
                    "(0,\\infty)",
                    "[0,\\infty)",
                    "(-\\infty,0)\\cup(0,\\infty)",
                    "\\emptyset",
                    "(-\\infty, 0]",
                ]
            )
        style, items = _styled_pair(r, pos, neg, no_prose)
        return gold, style, items

    fill(c, "empty_set_reals", empty_set_reals, rng)

    # ---------------------------------------------------------------- binomials, sqrt of negatives
    def binom_sqrt_neg(r):
        if r.random() < 0.6:
            n = r.randint(4, 30)
            k = r.randint(1, n - 1)
            v = math.comb(n, k)
            form = r.choice(
                [
                    "{{{n} \\choose {k}}}",
                    "\\binom{{{n}}}{{{k}}}",
                    "\\dbinom{{{n}}}{{{k}}}",
                    "{n} \\choose {k}",
                ]
            )
            wk = k + 1 if k + 1 < n and math.comb(n, k + 1) != v else k - 1
            if wk < 1 or math.comb(n, wk) == v:
                return "", "", []
            if r.random() < 0.7:
                gold, pos = str(v), form.format(n=n, k=k)
                neg = r.choice([form.format(n=n, k=wk), form.format(n=n + 1, k=k)])
            else:
                gold, pos = form.format(n=n, k=k), str(v)
                neg = str(r.choice([v + 1, v - 1, math.comb(n, wk)]))
        else:
            a = r.randint(1, 12)
            pos = f"\\sqrt{{-{a * a}}}"
            sa = "" if a == 1 else str(a)
            gold = f"{sa}i"
            neg = r.choice(
                [f"{a}", f"-{a}", f"{a * a}i", f"\\sqrt{{{a * a}}}", f"\\sqrt{{-{a * a + 1}}}"]
            )
            if r.random() < 0.3:
                gold, pos = pos, f"{sa}i"
                neg = r.choice([f"{a}", f"{a + 1}i", f"-{a}"])
        style, items = _styled_pair(r, pos, neg)
        return gold, style, items

    fill(c, "binom_sqrt_neg", binom_sqrt_neg, rng)

    # ---------------------------------------------------------------- percent and units
    pct = [
        "{a}\\%",
        "{a}%",
        "{a} pct",
        "{a} percent",
        "{a} percentage points",
        "{a}\\text{{ percent}}",
    ]
    units = [
        "{a}\\text{{ cm}}",
        "{a} \\text{{ meters}}",
        "{a}^\\circ",
        "\\${a}",
        "{a} \\mbox{{ inches}}^2",
        "{a}\\text{{ dollars}}",
    ]

    def percent_units(r):
        a = r.randint(1, 99) if r.random() < 0.8 else r.randint(100, 5000)
        miss = r.choice(int_misses(a, r))
        form = r.choice(pct + units)
        if r.random() < 0.7:
            gold, pos, neg = str(a), form.format(a=a), form.format(a=miss)
        else:  # the gold carries the percent or unit, the prediction is bare
            gold, pos, neg = form.format(a=a), str(a), str(miss)
        style, items = _styled_pair(r, pos, neg)
        return gold, style, items

    fill(c, "percent_units", percent_units, rng)


def build_traps(c: Corpus, rng: random.Random, n: int = 20) -> None:
    """Near misses that verifiers are known to accept, appended to two categories.

    Added after the first version of the corpus, at its end, so the rows before
    them are unchanged: ``\\pm n`` for a gold ``n`` (math-verify scores it
    right), and factorials that differ by a small shift (``\\frac{1}{2004!}``
    for ``\\frac{1}{2006!}``: math-verify compares them as floats that underflow).
    """

    def pm_trap(r):
        k = r.randint(2, 3000)
        if r.random() < 0.5:
            gold, pos, neg = f"{k}, -{k}", f"\\pm {k}", f"\\pm {k + 1}"
        else:
            gold, pos, neg = str(k), str(k), f"\\pm {k}"
        style, items = _styled_pair(r, pos, neg, ["minerva", "r1_think", "boxed_cot", "bold"])
        return gold, style, items

    fill(c, "list_connectives", pm_trap, rng, n)

    def factorial_trap(r):
        m = r.randint(200, 3000)
        d = r.choice([1, 2])
        if r.random() < 0.5:
            gold = f"\\frac{{1}}{{{m}!}}"
            pos = r.choice([f"\\frac{{{m + 1}}}{{{m + 1}!}}", f"1/{m}!", f"\\frac{{1}}{{{m}!}}"])
            neg = f"\\frac{{1}}{{{m + d}!}}"
        else:
            gold = f"{m}!"
            pos = r.choice([f"{m} \\cdot {m - 1}!", f"\\frac{{{m + 1}!}}{{{m + 1}}}"])
            neg = r.choice([f"{m + d}!", f"{m}! + 1", f"{m - 1}!"])
        style, items = _styled_pair(r, pos, neg)
        return gold, style, items

    fill(c, "big_integer", factorial_trap, rng, n)
