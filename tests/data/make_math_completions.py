"""Build tests/data/math_completions.jsonl: whole model completions with a known truth.

Each line is ``{"gold", "completion", "label", "category", "style"}``: ``label``
says whether the completion's final answer is right for the gold answer. Every
case is constructed by a rule whose truth is known: a positive writes the gold
(or an equivalent form of it that the rule proves equal, e.g. ``\\frac{p}{q}``
as its exact decimal) as the final answer; a negative writes a near miss of it
(wrong sign, off by one, swapped tuple, open for closed bracket, one list item
missing, the 4-digit rounding of a wrong value, ...) as the final answer. In
every category negatives are exactly as numerous as positives. Forms whose
truth is debatable (``0.0833`` for ``\\frac1{12}``, ``50%`` for ``0.5``, a row
for a column vector, ...) are left out.

Categories are those of issue 11 ("What fails today"): extraction styles
(``bare_expression``, ``minerva_final``, ``answer_prefix``, ``trailing_words``,
``multi_box``, ``unicode_thousands``) and equivalence classes
(``list_connectives``, ``labelled``, ``interval_inequality``, ``letter_choice``,
``decimal_fraction``, ``repeating_scientific``, ``big_integer``, ``matrix``,
``empty_set_reals``, ``binom_sqrt_neg``, ``percent_units``), plus the plain
styles ``gsm8k_hash`` and ``r1_boxed``. Styles imitate public model outputs:
Minerva / lm-eval ``Final Answer: The final answer is $X$. I hope it is
correct.``, DeepSeek-R1 ``<think>...</think>`` then ``\\boxed{}``,
NuminaMath/OpenThoughts multi-part boxes, GSM8K ``#### N`` and ``A: N``,
prose ``The answer is ...``, Markdown ``**Final Answer:**``, bare LaTeX.

Seeds: real gold answers of GSM8K test and MATH-500 (``../shared/data``), and
their reference solutions as the reasoning text. The output file is
self-contained; this script is only needed to rebuild it, deterministically:

    python tests/data/make_math_completions.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
from fractions import Fraction
from pathlib import Path

import completion_helpers as ch
from completion_constructed import build_equivalence, build_traps

HERE = Path(__file__).resolve().parent
OUT = HERE / "math_completions.jsonl"
SEED = 11


# --------------------------------------------------------------------------
# seeds


def load(data: Path):
    gsm = [json.loads(x) for x in (data / "gsm8k" / "test.jsonl").open()]
    gsm = [
        (int(r["answer"].split("####")[-1].strip().replace(",", "")), ch._clean_gsm(r["answer"]))
        for r in gsm
    ]
    m5 = [json.loads(x) for x in (data / "math500" / "test.jsonl").open()]
    return gsm, [(r["answer"], ch._clean_math(r["solution"])) for r in m5]


_UNITS = ["apples", "dollars", "eggs", "miles", "minutes", "cookies", "students", "pages", "hours"]


# --------------------------------------------------------------------------
# MATH-500 golds whose near misses can be built with certainty

_FRAC_RE = re.compile(r"^(-?)\\[dt]?frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))$")
_SQRT_RE = re.compile(r"^(\d*)\s*\\sqrt\s*(?:\{(\d+)\}|(\d))$")
_TUPLE_RE = re.compile(r"^\((-?\d+(?:,\s*-?\d+)+)\)$")


def math_forms(gold: str, rng: random.Random) -> tuple[list[str], list[str]] | None:
    """Equal forms and near misses of a MATH-500 gold, or None if unsure."""
    g = gold.strip()
    if re.fullmatch(r"-?\d+", g):
        n = int(g)
        pos = [g] + ([f"{n:,}"] if abs(n) >= 1000 else []) + [f"{n}.0"]
        return pos, [str(m) for m in ch.int_misses(n, rng)]
    m = _FRAC_RE.match(g)
    if m:
        p, q = int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
        fr = Fraction(p, q) * (-1 if m.group(1) else 1)
        if fr.denominator != q:  # unreduced gold: skip
            return None
        pos = [g, ch.frac_tex(fr), ch.frac_tex(fr, "\\dfrac"), f"{'-' if fr < 0 else ''}{p}/{q}"]
        if ch.terminating(fr):
            pos.append(ch.terminating(fr))
        sgn = -1 if fr < 0 else 1
        wrong = {Fraction(p + 1, q) * sgn, Fraction(p, q + 1) * sgn, -fr}
        if p != q:
            wrong.add(Fraction(q, p) * sgn)
        return pos, [ch.frac_tex(w) for w in wrong if w != fr]
    if re.fullmatch(r"-?\d*\.\d+", g):
        v = Fraction(g)
        last = int(g[-1])
        return [g, g + "0", ch.frac_tex(v)], [g[:-1] + str((last + 1) % 10), ch.frac_tex(v * 10)]
    m = _SQRT_RE.match(g)
    if m:
        a = int(m.group(1) or 1)
        b = int(m.group(2) or m.group(3))
        pos = [g, f"{a}\\sqrt{{{b}}}" if a != 1 else f"\\sqrt{{{b}}}"]
        if a > 1:
            pos.append(f"\\sqrt{{{a * a * b}}}")
        neg = [f"{a + 1}\\sqrt{{{b}}}", f"{a}\\sqrt{{{b + 1}}}", f"-{a}\\sqrt{{{b}}}"]
        return pos, neg
    m = re.fullmatch(r"(\d+)\^\\circ", g)
    if m:
        n = int(m.group(1))
        return [g, f"{n}^{{\\circ}}"], [f"{n + 1}^\\circ", f"{n - 1}^\\circ"]
    m = _TUPLE_RE.match(g)
    if m:
        items = [x.strip() for x in m.group(1).split(",")]
        pos = [g, "\\left(" + ", ".join(items) + "\\right)", "(" + ", ".join(items) + ")"]
        neg = []
        if items[0] != items[1]:
            sw = items[:]
            sw[0], sw[1] = sw[1], sw[0]
            neg.append("(" + ", ".join(sw) + ")")
        off = items[:]
        off[-1] = str(int(off[-1]) + 1)
        neg.append("(" + ", ".join(off) + ")")
        return pos, neg
    return None


def build(data: Path) -> list[dict]:
    rng = random.Random(SEED)
    gsm, m5 = load(data)
    m5_forms = [(g, w, math_forms(g, rng)) for g, w in m5]
    m5_ok = [(g, w, f) for g, w, f in m5_forms if f]
    c = ch.Corpus()

    # ---------------------------------------------------------------- GSM8K styles
    def gsm8k_hash(r):
        n, lines = r.choice(gsm)
        work = "\n".join(lines[:-1]) or lines[0]
        fmt = (lambda v: f"{v:,}") if n >= 1000 and r.random() < 0.5 else str
        miss = r.choice(ch.int_misses(n, r))
        items = [(f"{work}\n#### {fmt(n)}", True), (f"{work}\n#### {fmt(miss)}", False)]
        # the gold as an intermediate value, then a different final answer
        items.append(
            (f"{work}\nThat gives {n}, minus the {abs(miss - n)} left over.\n#### {miss}", False)
        )
        return str(n), "gsm8k_hash", items

    ch.fill(c, "gsm8k_hash", gsm8k_hash, rng)

    prefix_forms = [
        ("gsm8k_A", "A: {a}"),
        ("bold", "**Final Answer:** {a}"),
        ("bold", "**Final Answer:** ${a}$"),
        ("bold", "**Answer:** {a}"),
        ("prose", "The answer is: {a}"),
        ("prose", "Answer: {a}"),
        ("prose", "Final answer: {a}"),
    ]

    def answer_prefix(r):
        n, lines = r.choice(gsm)
        work = "\n".join(lines[:-1]) or lines[0]
        style, form = r.choice(prefix_forms)
        miss = r.choice(ch.int_misses(n, r))
        return (
            str(n),
            style,
            [
                (f"{work}\n{form.format(a=n)}", True),
                (f"{work}\n{form.format(a=miss)}", False),
            ],
        )

    ch.fill(c, "answer_prefix", answer_prefix, rng)

    trailing_forms = [
        "The answer is {a} {u}.",
        "The answer is ${a}$ {u}.",
        "So the answer is {a} {u} in total.",
        "The final answer is {a} {u}.",
        "Therefore, the answer is {a} {u} per day.",
        "The answer is **{a}** {u}.",
    ]

    def trailing_words(r):
        n, lines = r.choice(gsm)
        work = "\n".join(lines[:-1]) or lines[0]
        form, u = r.choice(trailing_forms), r.choice(_UNITS)
        miss = r.choice(ch.int_misses(n, r))
        return (
            str(n),
            "prose",
            [
                (f"{work}\n{form.format(a=n, u=u)}", True),
                (f"{work}\n{form.format(a=miss, u=u)}", False),
            ],
        )

    ch.fill(c, "trailing_words", trailing_words, rng)

    # ---------------------------------------------------------------- MATH-500 styles
    def _m5(r, style_pool):
        g, work, (pos, neg) = r.choice(m5_ok)
        style = r.choice(style_pool)
        work = work or ch._numbers_work(r)
        items = [(ch.styled(style, r.choice(pos), work, r), True)]
        nm = r.choice(neg)
        items.append(
            (ch.styled(style, nm, work, r, mention=g if style == "r1_think" else None), False)
        )
        return g, style, items

    ch.fill(c, "r1_boxed", lambda r: _m5(r, ["r1_think"]), rng)

    minerva_prose = [
        "Final Answer: The largest $n$ is {a}.",
        "Final Answer: The smallest possible value is ${a}$.",
        "Final Answer: The value is ${a}$.",
    ]

    def minerva_final(r):
        g, work, (pos, neg) = r.choice(m5_ok)
        work = work or ch._numbers_work(r)
        if r.random() < 0.7:
            return (
                g,
                "minerva",
                [
                    (ch.styled("minerva", r.choice(pos), work, r), True),
                    (ch.styled("minerva", r.choice(neg), work, r), False),
                ],
            )
        if not re.fullmatch(r"-?\d+", g):
            return g, "minerva", []
        form = r.choice(minerva_prose)
        return (
            g,
            "minerva",
            [
                (f"{work}\n{form.format(a=r.choice(pos))}", True),
                (f"{work}\n{form.format(a=r.choice(neg))}", False),
            ],
        )

    ch.fill(c, "minerva_final", minerva_final, rng)

    def bare_expression(r):
        k = r.random()
        if k < 0.15:  # mixed numbers, `$7 1/2$`
            w, p = r.randint(1, 12), r.randint(1, 7)
            q = r.randint(p + 1, 9)
            if math.gcd(p, q) != 1:
                return "", "bare", []
            fr = w + Fraction(p, q)
            gold = r.choice([ch.frac_tex(fr), f"{w}\\frac{{{p}}}{{{q}}}"])
            return (
                gold,
                "bare",
                [
                    (f"${w} {p}/{q}$", True),
                    (f"${w + 1} {p}/{q}$", False),
                ],
            )
        if k < 0.3:  # `\[x = 3\]`
            n = r.randint(-30, 60)
            var = r.choice("xyznk")
            return (
                str(n),
                "bare",
                [
                    (r.choice([f"\\[{var} = {n}\\]", f"${var}={n}$"]), True),
                    (r.choice([f"\\[{var} = {m}\\]" for m in ch.int_misses(n, r)]), False),
                ],
            )
        g, _, (pos, neg) = r.choice(m5_ok)
        return (
            g,
            "bare",
            [
                (ch.styled("bare", r.choice(pos), "", r), True),
                (ch.styled("bare", r.choice(neg), "", r), False),
            ],
        )

    ch.fill(c, "bare_expression", bare_expression, rng)

    # ---------------------------------------------------------------- formats of numbers
    def unicode_thousands(r):
        if r.random() < 0.35:  # U+2212 minus
            n = r.choice([g for g, _ in gsm if g > 0])
            work = ch._numbers_work(r)
            style = r.choice(ch.main_styles())
            return (
                f"-{n}",
                style,
                [
                    (ch.styled(style, f"\u2212{n}", work, r), True),
                    (ch.styled(style, f"\u2212{n + 1}", work, r), False),
                ],
            )
        n = r.randint(10_000, 99_999_999)
        grp = f"{n:,}".split(",")
        sep = r.choice(["{,}", " ", "\\,", ",\\!", "\\ "])
        txt = sep.join(grp)
        bad = f"{n + r.choice([1, 10, 1000, -1]):,}".split(",")
        style = r.choice(ch.main_styles())
        work = ch._numbers_work(r)
        gold = r.choice([str(n), f"{n:,}"])
        items = [
            (ch.styled(style, txt, work, r), True),
            (ch.styled(style, sep.join(bad), work, r), False),
        ]
        return gold, style, items

    ch.fill(c, "unicode_thousands", unicode_thousands, rng)
    build_equivalence(c, rng)
    build_traps(c, rng)
    return c.rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not (args.data / "gsm8k" / "test.jsonl").exists():
        raise SystemExit(f"seed data not found under {args.data} (GSM8K and MATH-500 test sets)")
    rows = build(args.data)
    with args.out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    cats = sorted({r["category"] for r in rows})
    pos = sum(r["label"] for r in rows)
    print(
        f"wrote {len(rows)} completions ({pos} right, {len(rows) - pos} wrong) in {len(cats)} categories to {args.out}"
    )


if __name__ == "__main__":
    main()
