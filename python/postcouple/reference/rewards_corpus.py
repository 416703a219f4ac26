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
# each right one with near misses beside it, and the held-out model styles. The
# truth is by hand. They are data, in rewards_cases.jsonl beside this file: one
# row a case, {"set", "answer", "gold", "right"}.

_CASES_FILE = Path(__file__).with_name("rewards_cases.jsonl")


def _read_cases() -> dict[str, list[tuple[str, str, bool]]]:
    """``rewards_cases.jsonl`` by set: the (answer, gold, right?) rows of each."""
    sets: dict[str, list[tuple[str, str, bool]]] = {}
    with _CASES_FILE.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                sets.setdefault(r["set"], []).append((r["answer"], r["gold"], bool(r["right"])))
    return sets


_CASES = _read_cases()


#: (completion, gold, right?)
ISSUE_11_COMPLETIONS = _CASES["issue_11_completions"]

#: (pred, gold, equal?)
ISSUE_11_PAIRS = _CASES["issue_11_pairs"]


#: Real model-output styles written after the verifier work, as a held-out check
#: (R1 ``<think>``, Qwen ``**Final Answer**``, NuminaMath, GSM8K, Minerva):
#: (completion, gold, right?).
MODEL_STYLE_COMPLETIONS = _CASES["model_style_completions"]

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
