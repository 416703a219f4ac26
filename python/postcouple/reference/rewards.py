"""Plain-Python oracles for postcouple.rewards (independent implementations,
written from the documented contract, used by the parity tests and benches).

The math *equivalence* checker has no Python twin here: its oracles are the
hand-written truth tables in tests/test_rewards.py, the real data (MATH-500,
GSM8K) and math-verify on a constructed corpus (tests/test_rewards_mathverify.py).
"""

from __future__ import annotations

import re

import numpy as np

# Unicode White_Space (what Rust's str::trim uses); Python's str.isspace also
# counts U+001C..U+001F, so the oracle spells the set out.
WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_WS = " \t\n\x0c\r"


def _braced(s: str, i: int) -> str | None:
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1 : j]
        j += 1
    return None


def boxed(s: str) -> str | None:
    a, f = s.rfind("\\boxed"), s.rfind("\\fbox")
    if a < 0 and f < 0:
        return None
    p, n = (a, 6) if a > f else (f, 5)
    rest = s[p + n :]
    t = rest.lstrip(WS)
    off = p + n + len(rest) - len(t)
    if t.startswith("{"):
        x = _braced(s, off)
        return x.strip(WS) or None if x is not None else None
    if rest.startswith(" "):
        m = re.match("[^$" + WS + "]*", t)
        return m.group(0) or None
    return None


def gsm8k(s: str) -> str | None:
    p = s.rfind("####")
    if p < 0:
        return None
    return s[p + 4 :].split("\n")[0].strip(WS) or None


def tag(s: str) -> str | None:
    c = s.rfind("</answer>")
    if c < 0:
        return None
    o = s[:c].rfind("<answer>")
    if o < 0:
        return None
    return s[o + 8 : c].strip(WS) or None


def _clean(x: str) -> str:
    t = x.strip(WS)
    while True:
        before = t
        for w in ["**", "$", "\\(", "\\)", "\\[", "\\]", '"', "*", ":"]:
            if t.startswith(w):
                t = t[len(w) :].lstrip(WS)
            if t.endswith(w):
                t = t[: -len(w)].rstrip(WS)
        t = t.rstrip(".,;!").strip(WS)
        if t == before:
            return t


def _sentence(rest: str) -> str:
    for i, c in enumerate(rest):
        if c == "\n":
            return rest[:i]
        if c == "." and (i + 1 == len(rest) or rest[i + 1] in _ASCII_WS):
            return rest[:i]
    return rest


def _rfind_ci(s: str, needle: str) -> int:
    # ASCII-only case folding, like the core (str.lower() would fold non-ASCII too)
    low = s.translate({c: c + 32 for c in range(65, 91)})
    return low.rfind(needle)


def answer_is(s: str) -> str | None:
    p = _rfind_ci(s, "answer is")
    return (_clean(_sentence(s[p + 9 :])) or None) if p >= 0 else None


def answer_colon(s: str) -> str | None:
    p = _rfind_ci(s, "answer:")
    return (_clean(s[p + 7 :].split("\n")[0]) or None) if p >= 0 else None


_NUM = re.compile(r"-?\.?[0-9]+(?:[,./][0-9]+)*")


def last_number(s: str) -> str | None:
    ms = list(_NUM.finditer(s))
    return ms[-1].group(0) if ms else None


def extract(s: str, mode: str = "auto", last_number_fallback: bool = False) -> str | None:
    if mode == "auto":
        for f in (boxed, tag, gsm8k, answer_is, answer_colon):
            x = f(s)
            if x is not None:
                return x
        return last_number(s) if last_number_fallback else None
    return {
        "boxed": boxed,
        "gsm8k": gsm8k,
        "tag": tag,
        "answer_is": answer_is,
        "answer_colon": answer_colon,
        "last_number": last_number,
    }[mode](s)


def label_key(s: str, case_sensitive: bool = False) -> str:
    t = s.strip(WS)
    if t.startswith("\\text{") and t.endswith("}"):
        t = t[6:-1]
    t = t.strip(WS + "$*\"'`.,;:!?()[]{}")
    return t if case_sensitive else t.lower()


def label_reward(completions, labels, mode="auto", case_sensitive=False) -> np.ndarray:
    out = []
    for c, lab in zip(completions, labels):
        a = extract(c, mode)
        out.append(
            1.0
            if a is not None and label_key(a, case_sensitive) == label_key(lab, case_sensitive)
            else 0.0
        )
    return np.asarray(out, dtype=np.float32)


def format_reward(completions, pattern: str) -> np.ndarray:
    rx = re.compile(pattern, re.S)
    return np.asarray([1.0 if rx.fullmatch(c) else 0.0 for c in completions], dtype=np.float32)


def overlong_penalty(lengths, max_len: int, buffer: int, factor: float = 1.0) -> np.ndarray:
    # verl's DAPO reward manager: min(-exceed_len / buffer_len * factor, 0)
    exceed = np.asarray(lengths, dtype=np.float64) - (max_len - buffer)
    return np.minimum(-exceed / buffer * factor, 0.0).astype(np.float32)
