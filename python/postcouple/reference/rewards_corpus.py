"""Reference data for the math checker, shared by tests/ and benches/ (so the
benches import nothing from tests/): a corpus of (pred, gold, truth) pairs built
from real golds (MATH-500, GSM8K) by rewrites whose truth is known by
construction (equivalent rewrites: True; near misses: False), the known
math-verify false positives, issue 11's examples, held-out model-style
completions, and the hostile inputs of the worst-case bench.

``python -m postcouple.reference.rewards_corpus`` prints postcouple and
math-verify side by side on issue 11's examples (needs math-verify).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class Case:
    pred: str
    gold: str
    truth: bool
    kind: str


KNOWN_MATH_VERIFY_FALSE_POSITIVES = [
    Case("3x-y+13=0", "3x+4y+14=0", False, "mv-fp-equation"),
    Case("\\frac{1}{2004!}", "\\frac{1}{2006!}", False, "mv-fp-factorial"),
    Case("\\pm 2021", "2021", False, "mv-fp-pm"),
]

_INT = re.compile(r"^-?\d+$")
_FRAC = re.compile(r"^(-?)\\(?:d|t)?frac\{(\d+)\}\{(\d+)\}$")
_LIST = re.compile(r"^[^(\[{}]*,[^)\]{}]*$")
_TUPLE = re.compile(r"^\((.*)\)$")


def _thousands(n: int) -> str:
    return f"{n:,}"


def _terminating(fr: Fraction) -> str | None:
    d = fr.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d != 1:
        return None
    s = f"{float(fr):.12f}".rstrip("0").rstrip(".")
    return s if Fraction(s) == fr else None


def _split_top(s: str, sep: str = ",") -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _poly_terms(s: str) -> list[str] | None:
    # top-level +/- terms of a polynomial in one letter, e.g. x^3+3x-6
    if not re.fullmatch(r"[-+ 0-9a-z^{}]+", s) or not re.search(r"[a-z]", s):
        return None
    terms = re.findall(r"[+-]?\s*[^+-]+", s.replace(" ", ""))
    return terms if len(terms) >= 2 else None


def rewrites(gold: str, rng: random.Random) -> list[Case]:
    g = gold.strip()
    # drop spaces, except the one ending a command name (`\\cot x`)
    out: list[Case] = [Case(re.sub(r"(?<![a-zA-Z]) | (?![a-zA-Z])", "", g), g, True, "spacing")]
    if "\\frac" in g and "\\dfrac" not in g:
        out.append(Case(g.replace("\\frac", "\\dfrac"), g, True, "dfrac"))
    if _INT.match(g):
        n = int(g)
        out += [
            Case(f"{n}.0", g, True, "int-decimal"),
            Case(_thousands(n), g, True, "int-thousands"),
            Case(f"\\text{{{n}}}", g, True, "int-text"),
            Case(str(n + 1), g, False, "int-plus-one"),
            Case(str(n * 10 + 1), g, False, "int-times-ten"),
        ]
        if n != 0:
            out.append(Case(str(-n), g, False, "int-negated"))
    m = _FRAC.match(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        fr = Fraction(a, b) * (-1 if sign else 1)
        out += [
            Case(f"{sign}{a}/{b}", g, True, "frac-slash"),
            Case(f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}", g, True, "frac-unreduced"),
            Case(f"{sign}\\frac{{{a + 1}}}{{{b}}}", g, False, "frac-numerator-plus-one"),
        ]
        dec = _terminating(fr)
        if dec:
            out.append(Case(dec, g, True, "frac-decimal"))
        if a != b:
            out.append(Case(f"{sign}\\frac{{{b}}}{{{a}}}", g, False, "frac-inverted"))
    if (
        _LIST.match(g)
        and "=" not in g
        and "\\le" not in g
        and not re.search(r",(\\!)?\s*\d{3}\b", g)
    ):
        items = [x.strip() for x in _split_top(g)]
        if len(items) >= 2 and len(set(items)) == len(items):
            perm = items[:]
            while perm == items:
                rng.shuffle(perm)
            out.append(Case(", ".join(perm), g, True, "list-permuted"))
            out.append(Case(", ".join(items[:-1]), g, False, "list-missing-item"))
    t = _TUPLE.match(g)
    if t and "\\cup" not in g:
        items = [x.strip() for x in _split_top(t.group(1))]
        if len(items) >= 2 and len(set(items)) == len(items) and "\\infty" not in g:
            perm = items[:]
            perm[0], perm[1] = perm[1], perm[0]
            out.append(Case("(" + ", ".join(perm) + ")", g, False, "tuple-swapped"))
            out.append(Case("\\left(" + ",".join(items) + "\\right)", g, True, "tuple-left-right"))
    if re.fullmatch(r"[(\[].*,.*[)\]]", g) and (
        "\\infty" in g or g[0] != g[-1].translate(str.maketrans(")]", "(["))
    ):
        flipped = ("[" if g[0] == "(" else "(") + g[1:]
        if "\\infty" not in _split_top(g[1:-1])[0]:
            out.append(Case(flipped, g, False, "interval-bracket-flipped"))
    terms = _poly_terms(g)
    if terms:
        rev = terms[::-1]
        s = "".join(x if x[0] in "+-" else "+" + x for x in rev).lstrip("+")
        out.append(Case(s, g, True, "poly-reordered"))
        out.append(Case("".join(terms[:-1]), g, False, "poly-dropped-term"))
    m2 = re.fullmatch(r"(\d+)\s*\\sqrt\{(\d+)\}", g)
    if m2:
        a, b = int(m2.group(1)), int(m2.group(2))
        out.append(Case(f"\\sqrt{{{a * a * b}}}", g, True, "sqrt-absorbed"))
        out.append(Case(f"\\sqrt{{{a * a * b + 1}}}", g, False, "sqrt-absorbed-off"))
    m3 = re.fullmatch(r"\\text\{([A-Za-z ]+)\}", g)
    if m3:
        out.append(Case(m3.group(1).upper(), g, True, "text-case"))
        out.append(Case(m3.group(1) + "x", g, False, "text-typo"))
    if re.fullmatch(r"-?\d*\.\d+", g):
        out.append(Case(g + "0", g, True, "decimal-trailing-zero"))
        last_digit = int(g[-1])
        out.append(Case(g[:-1] + str((last_digit + 1) % 10), g, False, "decimal-last-digit"))
    if "\\pm" in g and g.count("\\pm") == 1 and "\\{" not in g:
        lhs, rhs = g.split("\\pm")
        out.append(Case(f"{lhs}+{rhs}, {lhs}-{rhs}", g, True, "pm-expanded"))
        out.append(Case(f"{lhs}+{rhs}", g, False, "pm-one-branch"))
    if g.startswith("\\begin{pmatrix}"):
        out.append(Case(g.replace("pmatrix", "bmatrix"), g, True, "matrix-bmatrix"))
        nums = re.findall(r"-?\d+", g)
        if nums:
            out.append(
                Case(g.replace(nums[0], str(int(nums[0]) + 1), 1), g, False, "matrix-entry-off")
            )
    if g.endswith("^\\circ"):
        out.append(Case(g[: -len("^\\circ")], g, True, "degrees-dropped"))
    m4 = re.fullmatch(r"\\sqrt\{(\d)\}", g)
    if m4:
        out.append(Case(f"\\sqrt{m4.group(1)}", g, True, "sqrt-shorthand"))
    return out


def build(data_dir: Path, seed: int = 0, gsm8k_limit: int = 300) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = list(KNOWN_MATH_VERIFY_FALSE_POSITIVES)
    rows = [json.loads(x) for x in (data_dir / "math500" / "test.jsonl").open()]
    for r in rows:
        cases += rewrites(r["answer"], rng)
    rows = [json.loads(x) for x in (data_dir / "gsm8k" / "test.jsonl").open()][:gsm8k_limit]
    for r in rows:
        gold = r["answer"].split("####")[-1].strip().replace(",", "")
        cases += rewrites(gold, rng)
    return cases


# --------------------------------------------------------------------------
# issue 11's examples ("What fails today"): whole completions and answer pairs,
# each right one with near misses beside it. The truth is by hand.

#: (completion, gold, right?)
ISSUE_11_COMPLETIONS: list[tuple[str, str, bool]] = [
    ("$\\frac98$", "\\frac{9}{8}", True),
    ("$\\frac98$", "\\frac{9}{7}", False),
    ("\\(\\dfrac{31}{15}\\)", "\\frac{31}{15}", True),
    ("\\(\\dfrac{31}{15}\\)", "\\frac{31}{16}", False),
    ("\\[x = 3\\]", "3", True),
    ("\\[x = 3\\]", "4", False),
    ("$7 1/2$", "\\frac{15}{2}", True),
    ("$7 1/2$", "7", False),
    ("Final Answer: The final answer is $12$. I hope it is correct.", "12", True),
    ("Final Answer: The final answer is $12$. I hope it is correct.", "13", False),
    ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "0.5", True),
    ("Final Answer: The final answer is $(1,2)$. I hope it is correct.", "(1,2)", True),
    ("Final Answer: The final answer is $(1,2)$. I hope it is correct.", "(2,1)", False),
    ("Final Answer: The largest $n$ is 34.", "34", True),
    ("Final Answer: The largest $n$ is 34.", "35", False),
    ("Q: how many?\nA: 18", "18", True),
    ("Q: how many?\nA: 18", "81", False),
    ("**Final Answer:** 42", "42", True),
    ("**Final Answer:** 42", "24", False),
    ("The answer is: 42", "42", True),
    ("The answer is: 42", "43", False),
    ("The answer is 42 apples.", "42", True),
    ("The answer is 42 apples.", "41", False),
    ("The answer is $42$ apples.", "42", True),
    ("The answer is $42$ apples.", "4", False),
    ("The answer is 42 marbles in total.", "42", True),
    ("\\boxed{1}, \\boxed{2}", "1, 2", True),
    ("\\boxed{1}, \\boxed{2}", "1", False),
    ("\\boxed{1}, \\boxed{2}", "2", False),
    ("\\boxed{-2} \\quad\\text{and}\\quad \\boxed{1}", "-2, 1", True),
    ("\\boxed{-2} \\quad\\text{and}\\quad \\boxed{1}", "-2, 3", False),
    ("\\boxed{k = 45} and \\boxed{n = 2}", "k=45, n=2", True),
    ("\\boxed{k = 45} and \\boxed{n = 2}", "k=45, n=3", False),
    ("The answer is −5.", "-5", True),
    ("The answer is −5.", "5", False),
    ("\\boxed{23{,}924{,}986}", "23924986", True),
    ("\\boxed{23{,}924{,}986}", "23924987", False),
    ("\\boxed{36 320 014}", "36320014", True),
    ("\\boxed{36 320 014}", "36320015", False),
    ("\\boxed{14\\,602\\,087}", "14602087", True),
    ("\\boxed{14\\,602\\,087}", "14602088", False),
    (
        "<think>\nLet me compute 2+2=4. Wait, 3+3.\n</think>\nSo the result is \\boxed{6}.",
        "6",
        True,
    ),
    ("<think>\nLet me compute 2+2=4.\n</think>\nSo the result is \\boxed{4}.", "6", False),
    ("Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips.\n#### 72", "72", True),
    ("Natalia sold 48/2 = 24 clips in May.\n#### 71", "72", False),
    ("The total is 5 + 7 = 12.\nThe answer is 12.", "12", True),
    ("I think it's \\boxed{(B)}", "B", True),
    ("I think it's \\boxed{(C)}", "B", False),
    ("The answer is (B).", "B", True),
    ("The answer is (C).", "B", False),
    ("So $x=5$ and the answer is $\\boxed{5}$.", "5", True),
    ("Therefore, the final answer is: $\\boxed{34}$. I hope it is correct.", "34", True),
    ("Therefore, the final answer is: $\\boxed{34}$. I hope it is correct.", "43", False),
    ("The final answer is 18", "18", True),
    ("The final answer is 18", "17", False),
    ("Answer: 76%", "76", True),
    ("Answer: 76%", "77", False),
    ("The answer is 28 pct", "28", True),
    ("The answer is 28 percentage points", "28", True),
    ("The answer is 29 percentage points", "28", False),
    ("The solutions are $x=2$ or $x=3$.", "2, 3", True),
    ("We have $a=1$, so $b=2$.", "2", True),
    ("We have $a=1$, so $b=2$.", "1", False),
    ("\\boxed{3} or \\boxed{-3}", "3", False),
    ("\\boxed{3} or \\boxed{-3}", "\\pm 3", True),
    ("The answer is $27!$.", "10888869450418352160768000000", True),
    ("The answer is $27!$.", "10888869450418352160768000001", False),
    ("**Final Answer:** $\\$96$", "96", True),
    ("**Final Answer:** $\\$96$", "69", False),
    ("Option (C) gives 40.\n\\textbf{(B)}", "B", True),
    ("Option (C) gives 40.\n\\textbf{(B)}", "C", False),
    ("The answer is $x < -1 \\text{ or } x > 11$", "(-\\infty, -1) \\cup (11, \\infty)", True),
    ("The answer is $x < -1 \\text{ or } x > 11$", "(-\\infty, -1] \\cup (11, \\infty)", False),
    ("The answer is $x \\neq 12$.", "(-\\infty,12)\\cup(12,\\infty)", True),
    ("The answer is $x \\neq 12$.", "(-\\infty,12]\\cup(12,\\infty)", False),
    ("**Final Answer:** $g(2)=-10$", "-10", True),
    ("**Final Answer:** $g(2)=-10$", "10", False),
    ("**Final Answer:** $1.538461538461539$", "\\frac{20}{13}", True),
    ("**Final Answer:** $1.538461538461541$", "\\frac{20}{13}", False),
]

#: (pred, gold, equal?)
ISSUE_11_PAIRS: list[tuple[str, str, bool]] = [
    ("3 or -3", "\\pm 3", True),
    ("3 \\text{ or } -3", "3, -3", True),
    ("3 or 3", "\\pm 3", False),
    ("3 and -3", "3, -3", True),
    ("3 and 4", "3, -3", False),
    ("x=2 \\text{ or } x=3", "2, 3", True),
    ("x=2 \\text{ or } x=4", "2, 3", False),
    ("2 \\quad\\text{and}\\quad 3", "2, 3", True),
    ("2 \\quad\\text{and}\\quad 5", "2, 3", False),
    ("\\pm 3", "3, -3", True),
    ("(p,q)=(3,2)", "(3,2)", True),
    ("(p,q)=(2,3)", "(3,2)", False),
    ("a_3 = 2, a_{37} = 19", "a_{37} = 19, a_3 = 2", True),
    ("a_3 = 19, a_{37} = 2", "a_{37} = 19, a_3 = 2", False),
    ("AB=4,CD=5", "4, 5", True),
    ("AB=4,CD=6", "4, 5", False),
    ("f(x)=1", "1", True),
    ("f(x)=2", "1", False),
    ("7:32", "7:32", True),
    ("7:32", "\\frac{7}{32}", True),
    ("7:33", "7:32", False),
    ("V_1:V_2=11:21", "11:21", True),
    ("V_1:V_2=11:20", "11:21", False),
    ("-2 \\le x \\le 7", "x \\in [-2,7]", True),
    ("x \\in [-2,7]", "-2 \\le x \\le 7", True),
    ("-2 < x \\le 7", "x \\in [-2,7]", False),
    ("x >= 2", "[2, \\infty)", True),
    ("x \\geq 2", "[2, \\infty)", True),
    ("x > 2", "[2, \\infty)", False),
    ("x \\lt 3", "(-\\infty, 3)", True),
    ("x \\lt 3", "(-\\infty, 3]", False),
    ("x != 3", "x \\neq 3", True),
    ("x \\neq 3", "x \\ne 3", True),
    ("x \\neq 3", "x \\ne 4", False),
    ("0<f(x)<1", "(0,1)", True),
    ("0<f(x)\\le 1", "(0,1)", False),
    ("1\\le|z|\\le\\frac32", "[-\\frac32,-1]\\cup[1,\\frac32]", True),
    ("1\\le|z|\\le\\frac32", "[-\\frac32,-1)\\cup[1,\\frac32]", False),
    ("[2, \\infty)", "x \\ge 2", True),
    ("(2, \\infty)", "x \\ge 2", False),
    ("(B)", "B", True),
    ("\\text{B}", "B", True),
    ("\\textbf{(B)}", "B", True),
    ("\\boxed{(B)}", "B", True),
    ("(C)", "B", False),
    ("\\text{C}", "B", False),
    ("\\textbf{(C)}", "B", False),
    ("B", "(B)", True),
    ("0.0833333333333333", "\\frac{1}{12}", True),
    ("0.08333", "\\frac{1}{12}", False),
    ("0.083333", "\\frac{1}{12}", True),
    ("0.0834", "\\frac{1}{12}", False),
    ("0.083", "\\frac{1}{12}", False),
    ("0.33", "\\frac13", False),
    ("0.333", "\\frac13", False),
    ("0.333333", "\\frac13", True),
    ("0.333334", "\\frac13", False),
    ("3.14", "\\pi", False),
    ("0.\\overline{3}", "\\frac13", True),
    ("0.\\overline{3}", "0.3", False),
    ("0.1\\overline{6}", "\\frac16", True),
    ("1e-3", "0.001", True),
    ("1e-3", "0.01", False),
    ("5.6e3", "5600", True),
    ("5.6e3", "560", False),
    ("2^{128}+1", "2^{128}", False),
    ("2^{128}", "340282366920938463463374607431768211456", True),
    ("2^{128}+1", "340282366920938463463374607431768211457", True),
    ("340282366920938463463374607431768211457", "340282366920938463463374607431768211456", False),
    ("10^{40}", "10000000000000000000000000000000000000000", True),
    ("10^{40}+1", "10^{40}", False),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        True,
    ),
    (
        "\\left[\\begin{array}{cc} 1 & 2 \\\\ 3 & 4 \\end{array}\\right]",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        True,
    ),
    (
        "\\left[\\begin{array}{cc} 1 & 2 \\\\ 3 & 5 \\end{array}\\right]",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        False,
    ),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 4 & 3 \\end{pmatrix}",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        False,
    ),
    ("\\{\\}", "\\emptyset", True),
    ("\\varnothing", "\\emptyset", True),
    ("\\emptyset", "\\{0\\}", False),
    ("\\{\\}", "\\{1\\}", False),
    ("\\mathbb{R}", "(-\\infty,\\infty)", True),
    ("(-\\infty,\\infty)", "\\mathbb{R}", True),
    ("(0,\\infty)", "\\mathbb{R}", False),
    ("{5 \\choose 2}", "10", True),
    ("{5 \\choose 3}", "11", False),
    ("\\sqrt{-1}", "i", True),
    ("\\sqrt{-1}", "-1", False),
    ("28 pct", "28", True),
    ("28 percentage", "28", True),
    ("76%", "76", True),
    ("77%", "76", False),
    ("−5", "-5", True),
    ("−5", "5", False),
    ("23{,}924{,}986", "23924986", True),
    ("36 320 014", "36320014", True),
    ("14\\,602\\,087", "14602087", True),
    ("14\\,602\\,088", "14602087", False),
    ("36 320 015", "36320014", False),
    ("x > 1, x < 3", "(1, 3)", False),
    ("0.000003", "\\frac{1}{300000}", False),
    ("2 3", "6", False),
    ("2 3", "23", False),
    ("7 1/2", "\\frac{15}{2}", True),
    ("7 1/2", "\\frac{7}{2}", False),
    ("3 \\text{ or } -3", "0", False),
    ("3 or 300", "3300", False),
    ("x = 2, y = 3", "(2, 3)", True),
    ("x = 2, y = 3", "(3, 2)", False),
    ("|x| < 2", "(-2, 2)", True),
    ("|x| \\le 2", "(-2, 2)", False),
    ("|x| > 2", "(-\\infty,-2)\\cup(2,\\infty)", True),
    ("|x| > 2", "(-\\infty,-2]\\cup[2,\\infty)", False),
    ("1 \\le |z| \\le 2", "[-2,-1]\\cup[1,2]", True),
    ("1 \\le |z| \\le 2", "[-2,2]", False),
    ("3:2", "1.5", True),
    ("1:2:3", "\\frac16", False),
    ("36 320 014", "36 320 014", True),
    ("1 000", "100", False),
]


#: Real model-output styles written after the verifier work, as a held-out check
#: (R1 ``<think>``, Qwen ``**Final Answer**``, NuminaMath, GSM8K, Minerva):
#: (completion, gold, right?).
MODEL_STYLE_COMPLETIONS: list[tuple[str, str, bool]] = [
    (
        "<think>\nOkay, so 3x+5=20 gives x=5.\n</think>\n\nThe value of $x$ is $\\boxed{5}$.",
        "5",
        True,
    ),
    (
        "<think>\nOkay, so 3x+5=20 gives x=5.\n</think>\n\nThe value of $x$ is $\\boxed{6}$.",
        "5",
        False,
    ),
    ("**Final Answer**\n\\[\n\\boxed{\\dfrac{3}{4}}\n\\]", "0.75", True),
    ("**Final Answer**\n\\[\n\\boxed{\\dfrac{4}{3}}\n\\]", "0.75", False),
    ("Thus, the answer is \\(\\boxed{C}\\).", "C", True),
    ("Thus, the answer is \\(\\boxed{D}\\).", "C", False),
    ("The final answer is $\\boxed{(2, 3)}$.", "(2,3)", True),
    ("The final answer is $\\boxed{(3, 2)}$.", "(2,3)", False),
    ("Janet earns 16-3-4=9 eggs * $2 = $18.\nThe answer is 18.", "18", True),
    ("Janet earns 16-3-4=9 eggs * $2 = $18.\nThe answer is 19.", "18", False),
    ("So she makes $18 every day.\n#### 18", "18", True),
    ("So she makes $18 every day.\n#### 81", "18", False),
    ("Therefore, the solutions are $x = -1$ and $x = 4$.", "-1, 4", True),
    ("Therefore, the solutions are $x = -1$ and $x = 5$.", "-1, 4", False),
    ("The answer is $\\boxed{-1}$ and $\\boxed{4}$.", "4, -1", True),
    ("The answer is $\\boxed{-1}$ and $\\boxed{5}$.", "4, -1", False),
    (
        "Final Answer: The final answer is $\\frac{\\sqrt{3}}{2}$. I hope it is correct.",
        "\\frac{\\sqrt3}{2}",
        True,
    ),
    (
        "Final Answer: The final answer is $\\frac{\\sqrt{2}}{2}$. I hope it is correct.",
        "\\frac{\\sqrt3}{2}",
        False,
    ),
    ("Hence the range is $[0, 4)$.", "[0,4)", True),
    ("Hence the range is $[0, 4]$.", "[0,4)", False),
    ("The minimum value is \\boxed{2\\sqrt{2}}.", "\\sqrt{8}", True),
    ("The minimum value is \\boxed{2\\sqrt{3}}.", "\\sqrt{8}", False),
    ("Answer: $\\$1{,}250$", "1250", True),
    ("Answer: $\\$1{,}205$", "1250", False),
    ("The probability is $\\boxed{\\frac{5}{36}}$", "\\frac{5}{36}", True),
    ("The probability is $\\boxed{\\frac{5}{63}}$", "\\frac{5}{36}", False),
    ("So, the number of ways is \\boxed{120}.", "5!", True),
    ("So, the number of ways is \\boxed{24}.", "5!", False),
    ("The equation of the line is $y = -2x + 7$.", "y=-2x+7", True),
    ("The equation of the line is $y = -2x - 7$.", "y=-2x+7", False),
    ("The answer is 0.25 or 25%.", "\\frac14", True),
    ("Answer: 3.5 hours", "3.5", True),
    ("Answer: 3.5 hours", "3", False),
    ("A: The total cost is 45 dollars.", "45", True),
    ("A: The total cost is 54 dollars.", "45", False),
    ("The answer is: $\\text{(B) } 12$", "B", True),
    ("$$\\boxed{x \\in (-\\infty, 2]}$$", "(-\\infty,2]", True),
    ("$$\\boxed{x \\in (-\\infty, 2)}$$", "(-\\infty,2]", False),
    ("Final answer: 1.41421356", "\\sqrt{2}", True),
    ("Final answer: 1.41", "\\sqrt{2}", False),
    (
        "\\boxed{\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}}",
        "\\begin{pmatrix}2\\\\-1\\end{pmatrix}",
        True,
    ),
    (
        "\\boxed{\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}}",
        "\\begin{pmatrix}2\\\\-1\\end{pmatrix}",
        False,
    ),
]

#: Hostile inputs: each must score in bounded time, without an error or a panic
#: (tests/test_rewards.py; benches/bench_rewards.py times those up to 64 KiB).
PATHOLOGICAL = [
    "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
    "\\boxed{" + "{" * 10_000,
    "\\boxed{" + "}" * 10_000,
    "\\boxed{" + "\\frac{" * 10_000 + "}",
    "\\boxed{10^{10^{10^{10}}}}",
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{" + "9" * (1 << 20) + "}",
    "9" * (1 << 20),
    "\\boxed{" + "1," * 100_000 + "}",
    "\\boxed{\x00}\x00\x00",
    "\\boxed{\ud800\udfff}",
    "\\boxed{\\frac}",
    "\\boxed{\\frac{1}}",
    "\\boxed{\\sqrt}",
    "\\boxed{" + "(" * 5000 + ")" * 5000 + "}",
    "\\boxed{" + "x^" * 3000 + "2}",
    "\\boxed{" + "\\pm 1" * 50 + "}",
    "\\boxed{" + "+".join(f"x_{{{i}}}" for i in range(500)) + "}",
    "\\boxed{1e999999}",
    "\\boxed{" + "2^" * 200 + "2}",
    "\\boxed{\\begin{pmatrix}" + "1&" * 2000 + "1\\end{pmatrix}}",
    "#### " + "-" * 100_000,
    "answer is " + "." * 100_000,
]


#: Known misses on MODEL_STYLE_COMPLETIONS (a percent on one list item is read
#: for the whole answer).
MODEL_STYLE_KNOWN_GAPS = {"The answer is 0.25 or 25%."}


def _side_by_side() -> None:
    """Print postcouple and math-verify on the issue-11 examples (needs math-verify)."""
    from math_verify import parse, verify

    from postcouple.rewards import math_equal, math_reward

    def mv(comp: str, gold: str) -> bool:
        try:
            return bool(verify(parse(f"${gold}$"), parse(comp)))
        except Exception:  # noqa: BLE001 - a peer's crash counts as "not equal"
            return False

    def ours(c: str, g: str) -> bool:
        return bool(math_reward([c], [g])[0] == 1.0)

    Judge = Callable[[str, str], bool]
    runs: list[tuple[str, list[tuple[str, str, bool]], Judge, Judge]] = [
        ("completions", ISSUE_11_COMPLETIONS, ours, mv),
        ("answer pairs", ISSUE_11_PAIRS, math_equal, lambda p, g: mv(f"${p}$", g)),
        ("model styles (held out)", MODEL_STYLE_COMPLETIONS, ours, mv),
    ]
    print("| set | n | postcouple right | postcouple FP | math-verify right | math-verify FP |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows, score, theirs in runs:
        a = [bool(score(x, g)) for x, g, _ in rows]
        b = [theirs(x, g) for x, g, _ in rows]
        t = [truth for *_, truth in rows]
        ra, rb = (sum(x == y for x, y in zip(v, t)) for v in (a, b))
        fa, fb = (sum(x and not y for x, y in zip(v, t)) for v in (a, b))
        print(f"| {name} | {len(rows)} | {ra} | {fa} | {rb} | {fb} |")


if __name__ == "__main__":
    _side_by_side()
