"""Helpers of make_math_completions.py: answer styles, number forms, the corpus builder."""

from __future__ import annotations

import random
import re
from fractions import Fraction

PER_CATEGORY = 60  # positives per category (the same number of negatives)


# --------------------------------------------------------------------------
# reasoning text


def _clean_gsm(sol: str) -> list[str]:
    lines = sol.split("####")[0].strip().split("\n")
    return [re.sub(r"<<[^>]*>>", "", x).strip() for x in lines if x.strip()]


def _clean_math(sol: str) -> str:
    # keep the reasoning before the sentence that holds the boxed answer, so the
    # text does not state the final answer itself
    i = sol.rfind("\\boxed")
    if i < 0:
        return sol[-600:]
    head = sol[:i]
    cut = max(head.rfind(". "), head.rfind("\n"))
    head = head[: cut + 1] if cut > 0 else ""
    head = head.replace("\\boxed", "")
    return head[-600:].strip()


_FILLER = [
    "Let me work through this step by step.",
    "First, I set up the problem carefully.",
    "We start by writing down what we know.",
    "Let's think about this.",
]


def _numbers_work(rng: random.Random) -> str:
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
    return (
        f"{rng.choice(_FILLER)}\nWe have ${a} + {b} = {a + b}$ and ${c} \\cdot {a} = {c * a}$. "
        "Simplifying gives the result below."
    )


def _think(work: str, rng: random.Random, mention: str | None = None) -> str:
    extra = f"\nHmm, could it be {mention}? Let me double-check.\n" if mention else "\n"
    return f"<think>\nOkay, let me solve this.\n{work}{extra}Yes, that seems right.\n</think>\n\n"


# --------------------------------------------------------------------------
# answer styles: a completion whose final answer is `a` (LaTeX)


def styled(style: str, a: str, work: str, rng: random.Random, mention: str | None = None) -> str:
    if style == "minerva":
        return f"{work}\nFinal Answer: The final answer is ${a}$. I hope it is correct."
    if style == "r1_think":
        box = rng.choice([f"\\[\n\\boxed{{{a}}}\n\\]", f"$\\boxed{{{a}}}$"])
        return _think(work, rng, mention) + f"So the answer follows.\n\n**Final Answer**\n{box}"
    if style == "boxed_cot":
        return f"{work}\nTherefore, the answer is $\\boxed{{{a}}}$."
    if style == "prose":
        return f"{work}\nThe answer is ${a}$."
    if style == "bold":
        return f"{work}\n\n**Final Answer:** ${a}$"
    if style == "bare":
        return rng.choice([f"${a}$", f"\\({a}\\)", f"\\[{a}\\]", f"$${a}$$"])
    raise ValueError(style)


# --------------------------------------------------------------------------
# number forms


def frac_tex(fr: Fraction, cmd: str = "\\frac") -> str:
    if fr.denominator == 1:
        return str(fr.numerator)
    s = "-" if fr < 0 else ""
    return f"{s}{cmd}{{{abs(fr.numerator)}}}{{{fr.denominator}}}"


def terminating(fr: Fraction) -> str | None:
    d = fr.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    s = f"{float(fr):.12f}".rstrip("0").rstrip(".")
    return s if Fraction(s) == fr else None


def int_misses(n: int, rng: random.Random) -> list[int]:
    out = [n + 1, n - 1, n + 10]
    if n != 0:
        out.append(-n)
    s = str(abs(n))
    if len(s) >= 2 and s[0] != s[1]:
        out.append(int(s[1] + s[0] + s[2:]) * (1 if n >= 0 else -1))
    return [m for m in out if m != n]


class Corpus:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.seen: set[tuple[str, str]] = set()

    def add(self, category: str, style: str, gold: str, completion: str, label: bool) -> bool:
        key = (gold, completion)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.rows.append(
            {
                "gold": gold,
                "completion": completion,
                "label": label,
                "category": category,
                "style": style,
            }
        )
        return True

    def count(self, category: str, label: bool) -> int:
        return sum(r["category"] == category and r["label"] == label for r in self.rows)


def fill(c: Corpus, category: str, make, rng: random.Random, n: int = PER_CATEGORY) -> None:
    """Call ``make(rng)`` -> (gold, style, [(completion, label), ...]) until n of each label."""
    need = {True: n, False: n}
    tries = 0
    while (need[True] or need[False]) and tries < 200 * n:
        tries += 1
        gold, style, items = make(rng)
        for comp, label in items:
            if need[label] and c.add(category, style, gold, comp, label):
                need[label] -= 1
    if need[True] or need[False]:
        raise RuntimeError(f"{category}: could not fill {need}")


def main_styles() -> list[str]:
    return ["minerva", "r1_think", "boxed_cot", "prose", "bold"]
