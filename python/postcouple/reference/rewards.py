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


def _box_before(s: str, end: int) -> tuple[int, str, int] | None:
    head = s[:end]
    a, f = head.rfind("\\boxed"), head.rfind("\\fbox")
    if a < 0 and f < 0:
        return None
    p, n = (a, 6) if a > f else (f, 5)
    rest = s[p + n :]
    t = rest.lstrip(WS)
    off = p + n + len(rest) - len(t)
    if t.startswith("{"):
        x = _braced(s, off)
        if x is None or not x.strip(WS):
            return None
        return p, x.strip(WS), off + len(x) + 2
    if rest.startswith(" "):
        m = re.match("[^$" + WS + "]*", t)
        tok = m.group(0) if m else ""
        return (p, tok, off + len(tok)) if tok else None
    return None


def boxed(s: str) -> str | None:
    b = _box_before(s, len(s))
    return b[1] if b else None


_CONNECT = ["$", ",", ";", "\\quad", "\\qquad", "\\text{", "\\mbox{", "}", "and", "or"]
_CONNECT += ["\\(", "\\)", "\\,", "&"]


def _connector(g: str) -> bool:
    if len(g.encode("utf-8", "surrogatepass")) > 64:
        return False
    t = g
    while True:
        t = t.lstrip(WS)
        if not t:
            return True
        w = next((w for w in _CONNECT if t.startswith(w)), None)
        if w is None:
            return False
        t = t[len(w) :]


def boxed_joined(s: str) -> str | None:
    b = _box_before(s, len(s))
    if b is None:
        return None
    start, parts = b[0], [b[1]]
    while len(parts) < 8:
        prev = _box_before(s, start)
        if prev is None or prev[2] > start or not _connector(s[prev[2] : start]):
            break
        parts.append(prev[1])
        start = prev[0]
    return ", ".join(reversed(parts))


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


def _lower(s: str) -> str:
    # ASCII-only case folding, like the core (str.lower() would fold non-ASCII too)
    return s.translate({c: c + 32 for c in range(65, 91)})


def _rfind_ci(s: str, needle: str) -> int:
    return _lower(s).rfind(needle)


def _leading_math(t: str) -> str | None:
    for o, c in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if t.startswith(o):
            rest = t[len(o) :]
            if c == "$":
                m = re.search(r"(?<!\\)\$", rest)
                return rest[: m.start()] if m else None
            e = rest.find(c)
            return rest[:e] if e >= 0 else None
    return None


def _clean_math(x: str) -> str:
    return x.strip(WS).rstrip(".,;").strip(WS)


def _last_is(t: str) -> int | None:
    in_math, found = False, None
    for i, c in enumerate(t):
        if c == "$" and (i == 0 or t[i - 1] != "\\"):
            in_math = not in_math
        elif not in_math and t.startswith(" is ", i):
            found = i + 4
    return found


def _is_alpha(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


# arithmetic in words (the answer is then not a number) and percent words
_KEEP_WORDS = frozenset(
    "plus minus times divided over squared cubed mod modulo percent percentage pct".split()
)


def _cut_words(t: str) -> str:
    depth, digit, i = 0, False, 0
    while i < len(t):
        c = t[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "\\":
            i += 1
            while i < len(t) and _is_alpha(t[i]):
                i += 1
            continue
        if "0" <= c <= "9":
            digit = True
        if depth == 0 and _is_alpha(c) and (i == 0 or t[i - 1] == " "):
            j = i
            while j < len(t) and _is_alpha(t[j]):
                j += 1
            word = t[i:j]
            ends = j == len(t) or not (_is_alpha(t[j]) or "0" <= t[j] <= "9" or t[j] == "_")
            if digit and ends and len(word) >= 2 and word not in ("or", "and"):
                if _lower(word) in _KEEP_WORDS:
                    return t
                head = t[:i].rstrip(WS)
                for w in (" and", " or", ","):
                    head = (head[: -len(w)] if head.endswith(w) else head).rstrip(WS)
                return head
            i = j
            continue
        i += 1
    return t


def _refine(x: str) -> str | None:
    t = x.lstrip(":*" + WS)
    for _ in range(2):
        m = _leading_math(t)
        if m is not None:
            return _clean_math(m) or None
        if t[:1] and ("0" <= t[0] <= "9" or t[0] in "-+.([{\\\u2212"):
            break
        p = _last_is(t)
        if p is None:
            break
        t = t[p:].lstrip(WS)
    return _clean(_cut_words(_clean(t))) or None


def answer_is(s: str) -> str | None:
    p = _rfind_ci(s, "answer is")
    return _refine(_sentence(s[p + 9 :])) if p >= 0 else None


def _colon_anchor(s: str) -> tuple[int, int] | None:
    low, before = _lower(s), len(s)
    while True:
        p = low.rfind("answer", 0, before)
        if p < 0:
            return None
        j = p + 6
        while j < len(s) and s[j] in "*} " and j < p + 12:
            j += 1
        if j < len(s) and s[j] == ":":
            return p, j + 1
        before = p + 5
        if p == 0:
            return None


def answer_colon(s: str) -> str | None:
    a = _colon_anchor(s)
    return _refine(s[a[1] :].split("\n")[0]) if a else None


def a_colon(s: str) -> str | None:
    end = len(s)
    while (p := s.rfind("A:", 0, end)) >= 0:
        line = s[s.rfind("\n", 0, p) + 1 : p]
        if all(c in " *\t" for c in line):
            return _refine(s[p + 2 :].split("\n")[0])
        end = p
    return None


def _anchored(s: str) -> str | None:
    i, c = _rfind_ci(s, "answer is"), _colon_anchor(s)
    colon_last = c[0] > i if (i >= 0 and c) else i < 0
    fs = (answer_colon, answer_is) if colon_last else (answer_is, answer_colon)
    return fs[0](s) or fs[1](s) or a_colon(s)


def _or_and(g: str) -> bool:
    t = g.strip(WS)
    t = t[1:].lstrip(WS) if t.startswith(",") else t
    if t.startswith("\\text{") and t.endswith("}"):
        t = t[6:-1]
    return t.strip(WS) in ("or", "and")


def last_math(s: str) -> str | None:
    open_: tuple[int, int, str] | None = None  # (start, content start, closing kind)
    segs: list[tuple[int, int, int]] = []  # (start, content start, content end)
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if open_ is None and n in "([":
                open_ = (i, i + 2, ")" if n == "(" else "]")
            elif open_ is not None and n == open_[2]:
                segs, open_ = [*segs[-7:], (open_[0], open_[1], i)], None
            i += 2
            continue
        if c == "$":
            two = s.startswith("$$", i)
            kind = "D" if two else "$"
            if open_ is None:
                open_ = (i, i + 1 + two, kind)
            elif open_[2] == kind:
                segs, open_ = [*segs[-7:], (open_[0], open_[1], i)], None
            i += 1 + two
            continue
        i += 1
    if not segs:
        return None
    start, cs, ce = segs[-1]
    parts = [s[cs:ce].strip(WS)]
    if not parts[0]:
        return None
    for st, cs, ce in reversed(segs[:-1]):
        close_len = 2 if s.startswith("$$", ce) or s.startswith("\\", ce) else 1
        c = s[cs:ce].strip(WS)
        if not c or not _or_and(s[ce + close_len : start]):
            break
        parts.append(c)
        start = st
    return ", ".join(reversed(parts))


def choice_line(s: str) -> str | None:
    line = s.rstrip(WS).split("\n")[-1].strip(WS)
    t = line.strip("*$").strip(WS)
    for w in ("\\textbf{", "\\text{", "\\mathrm{", "\\mathbf{"):
        if t.startswith(w) and t.endswith("}"):
            t = t[len(w) : -1].strip(WS)
    ok = len(t) == 3 and t[0] == "(" and t[2] == ")" and "A" <= t[1] <= "Z"
    return t if ok else None


_NUM = re.compile(r"(?:-|\u2212)?\.?[0-9]+(?:[,./][0-9]+)*")


def last_number(s: str) -> str | None:
    ms = list(_NUM.finditer(s))
    return ms[-1].group(0) if ms else None


def extract(
    s: str, mode: str = "auto", last_number_fallback: bool = False, last_math_fallback: bool = False
) -> str | None:
    if mode == "auto":
        x = boxed_joined(s) or tag(s)
        if x is None and (g := gsm8k(s)) is not None:
            x = _refine(g)
        x = x or _anchored(s)
        if x is None and last_math_fallback:
            x = last_math(s) or choice_line(s)
        if x is None and last_number_fallback:
            x = last_number(s)
        return x
    return {
        "boxed": boxed_joined,
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
