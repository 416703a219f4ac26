"""verl drop-in: ``compute_score``, routed per data source as verl's ``default_compute_score``.

Point verl at it with ``custom_reward_function.path=<this file>`` and
``custom_reward_function.name=compute_score``, or call it from a reward
manager. As in ``verl.utils.reward_score.default_compute_score`` (verl 0.9.1),
the data source picks where the answer is looked for and the return type; the
comparison is :func:`postcouple.rewards.math_equal` (values, not strings):

- ``openai/gsm8k`` (verl's ``gsm8k`` scorer, strict method): the number after
  the last ``#### ``; no ``####``, no reward (verl's format requirement, kept).
  Returns ``float`` 1.0 / 0.0.
- ``lighteval/MATH``, ``DigitalLearningGmbH/MATH-lighteval``,
  ``HuggingFaceH4/MATH-500`` (``math_reward``): the last ``\\boxed{}`` /
  ``\\fbox{}``; no box, no reward. ``float`` 1.0 / 0.0.
- ``math_dapo``, ``math``, ``math_dapo_reasoning`` and every source starting
  with ``aime`` (``math_dapo``): the last ``Answer: ...`` line
  (case-insensitive), else the last ``\\boxed{}``. Returns verl's dict
  ``{"score": 1.0 or -1.0, "acc": bool, "pred": str}``; ``pred`` is the answer
  compared (postcouple's reading, not verl's normalized string), or
  ``"[INVALID]"`` when there is none, as in verl.
- ``numina_aops_forum``, ``numina_synthetic_math``, ``numina_amc_aime``,
  ``numina_synthetic_amc``, ``numina_cn_k12``, ``numina_olympiads``
  (``prime_math``, which grades the tail of any response): the anchors of
  ``mode="auto"``, else the last math span, else the last number. ``float``
  1.0 / 0.0.
- ``hiyouga/geometry3k`` (``geo3k``): ``0.9 * acc + 0.1 * format`` as a
  ``float``, acc on the last ``\\boxed{}``, format = the whole response is
  ``<think>...</think>...\\boxed{...}...`` (verl's regular expression).
- ``codecontests``, ``apps``, ``codeforces``, ``taco`` and ``searchR1_*``:
  ``NotImplementedError`` (verl runs code or a QA match there; use verl's).
- any other source: ``float`` 1.0 / 0.0 with ``mode="auto"`` (verl raises
  ``NotImplementedError``).

On every route, an answer is also right when it is the gold string itself
(up to spaces), when a label precedes it (``f(x)=22``, ``(p,q)=(3,2)``,
``AB:BC = 2:11`` for ``22``, ``(3,2)``, ``2:11``), or when a sentence states it
(``The largest $n$ is 34.`` for ``34``).

Tested against the real verl package (``tests/test_rewards_peers.py``), on the
2,360 whole completions with a known truth of
``tests/data/math_completions.jsonl``, for one data source of each scorer, and
on hand-written cases for all 16 math data sources: the same return type
always; the same value wherever verl's verdict is right, except for a
documented few that the issue-11 verifier work covers ("or" lists, letter
choices in ``\\textbf``, 16-digit decimals, ``\\varnothing``, exact big
integers such as ``1980 \\cdot 1979!`` for ``1980!``; 13 of 2,360 for
geometry3k, 6 of 394 for numina); never a false positive.

Where verl is wrong and this is right (measured on that corpus):

- gsm8k: none on the corpus; by construction, ``#### 72.00`` scores 1 for
  ``72`` (verl compares strings), a gold given as a whole reference solution
  is reduced to its ``####`` answer, and the ``####`` line is found anywhere
  (verl looks at the last 300 characters only).
- MATH sources (verl's ``strip_string`` then string equality misses equal
  values): ``\\boxed{203.0}`` for ``203``, ``\\boxed{91\\ 737\\ 841}`` for
  ``91737841``, ``\\boxed{x = \\pm 24}`` for ``24, -24``, ``\\boxed{g(2)=-18}``
  for ``-18``, ``\\boxed{x >= 3}`` for ``x \\ge 3``, ``\\boxed{D}`` for
  ``\\text{(D)}``, ``\\boxed{8.75}`` for ``\\frac{35}{4}``, ``\\boxed{6.5e-2}``
  for ``0.065``, a big integer for ``2^{66}+1``, a ``bmatrix`` with ``-9/2``
  for a ``pmatrix`` with ``-\\frac{9}{2}``, ``(-\\infty, +\\infty)`` for
  ``(-\\infty,\\infty)``, ``\\binom{6}{1}`` for ``6``, ``1508 percent`` for
  ``1508`` (155 of 2,360 cases).
- math_dapo (the ``Answer:`` line as verl's normalized string, the box
  fallback as the raw string, only in the last 100 characters): ``**Answer:**
  38``, ``The final answer is $17.0$``, ``$\\pm 14$`` for ``14, -14``,
  ``$n = 55$`` for ``55``, ``$0.375$`` for ``\\frac{3}{8}``, ``$\\dbinom{23}{6}$``
  for ``100947``, ``$85\\text{ percent}$`` for ``85``, and all the MATH forms
  above (336 of 2,360).
- numina (prime_math's marker trimming and sympy grading): ``#### 1`` after a
  line ending ``= 10``, ``**Answer:** 38``, ``The answer is 3 hours.``,
  ``$x < 5$`` for ``(-\\infty,5)``, ``(E)`` for ``\\text{(E)}``, ``$7.7e5$`` for
  ``770000``, ``$715$`` for ``\\dbinom{13}{4}`` (119 of 394).
- geometry3k (mathruler): besides MATH-like forms, verl's float comparison
  accepts wrong big integers (``...000001`` for ``...000000``: 10 false
  positives in 2,360), which score 0 here.

Not passed on, as in verl's ``default_compute_score``: ``extra_info`` (so
gsm8k is always the strict method). No ``signal``- or process-based timeouts
(the Rust verifier is bounded), so this is safe in any thread and fast: verl's
prime_math grader starts a process per sympy call.

Example:
    >>> compute_score("openai/gsm8k", "... #### 72", "72")
    1.0
    >>> compute_score("math_dapo", "so\\nAnswer: 12", "12")
    {'score': 1.0, 'acc': True, 'pred': '12'}
"""

from __future__ import annotations

import math
import re
from typing import Any

from postcouple import rewards as _r

__all__ = ["DATA_SOURCES", "compute_score"]

_GSM8K = ("openai/gsm8k",)
_MATH = ("lighteval/MATH", "DigitalLearningGmbH/MATH-lighteval", "HuggingFaceH4/MATH-500")
_DAPO = ("math_dapo", "math", "math_dapo_reasoning")  # and any source starting with "aime"
_NUMINA = (
    "numina_aops_forum",
    "numina_synthetic_math",
    "numina_amc_aime",
    "numina_synthetic_amc",
    "numina_cn_k12",
    "numina_olympiads",
)
_GEO3K = ("hiyouga/geometry3k",)
_NOT_MATH = ("codecontests", "apps", "codeforces", "taco")

#: The data sources verl's ``default_compute_score`` routes to a math scorer,
#: by scorer (``math_dapo`` also takes every source that starts with ``aime``).
DATA_SOURCES = {
    "gsm8k": _GSM8K,
    "math_reward": _MATH,
    "math_dapo": _DAPO,
    "prime_math": _NUMINA,
    "geo3k": _GEO3K,
}

# verl's math_dapo takes the last "Answer: ..." (case-insensitive) line
_ANSWER_LINE = re.compile(r"(?i)answer\s*:\s*([^\n]+)")
# verl's geo3k format check (fullmatch, "." matching newlines)
_GEO3K_FORMAT = r"<think>.*</think>.*\\boxed\{.*\}.*"
_INVALID = "[INVALID]"
_INLINE_MATH = re.compile(r"(?<!\\)\$((?:\\\$|[^$])+?)(?<!\\)\$")
_DOLLAR = re.compile(r"(?<!\\)\$")
_ANY_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<!\\)\$((?:\\\$|[^$])+?)(?<!\\)\$",
    re.S,
)
# a label: a name, a subscripted name, a function value, or a tuple of names
_LABELLED = re.compile(
    r"^\s*(?:{n}(?:\([^()=]*\))?|\((?:\s*{n}\s*,)+\s*{n}\s*\)|{n}(?:\s*:\s*{n})+)\s*=\s*([^=]+)$".format(
        n=r"[A-Za-z]{1,3}(?:_\{?\w+\}?)?"
    )
)


def _route(data_source: str) -> str:
    if data_source in _GSM8K:
        return "gsm8k"
    if data_source in _MATH:
        return "math_reward"
    if data_source in _DAPO or data_source.startswith("aime"):
        return "math_dapo"
    if data_source in _NUMINA:
        return "prime_math"
    if data_source in _GEO3K:
        return "geo3k"
    if data_source in _NOT_MATH or data_source.startswith("searchR1_"):
        raise NotImplementedError(
            f"data_source={data_source!r} is not a math task: verl scores it with code execution "
            "or QA exact match; use verl.utils.reward_score.default_compute_score for it"
        )
    return "auto"


def _same_text(pred: str | None, gold: str) -> bool:
    # the same answer string up to whitespace is right whatever it means (a form
    # the verifier cannot parse, such as a ratio "2:11", is then still scored)
    return pred is not None and pred.split() == gold.split() and bool(gold.split())


def _gold_answer(gold: str) -> str:
    # a gold given as a reference solution: its boxed / "#### N" answer, as math_reward does
    if "\\boxed" in gold or "\\fbox" in gold:
        return _r.extract_answer(gold, "boxed") or gold
    if "####" in gold:
        return _r.extract_answer(gold, "gsm8k") or gold
    return gold


def _judge(pred: str | None, gold: str) -> bool:
    """Whether the extracted answer ``pred`` is right for ``gold`` (already reduced)."""
    if not pred:
        return False
    if _same_text(pred, gold) or _r.math_equal(pred, gold):
        return True
    for value in (_unlabel(pred), _prose_tail(pred)):
        # "f(x)=22" for "22", "(p,q)=(3,2)" for "(3,2)"; "The largest $n$ is 34" for "34"
        if (
            value != pred
            and "=" not in gold
            and (_same_text(value, gold) or _r.math_equal(value, gold))
        ):
            return True
    return False


def _prose_tail(pred: str) -> str:
    # a sentence that states the answer ("The largest $n$ is 34", "The value is
    # $-1$"): what follows its last " is "; anything else is left as it is
    head, sep, tail = pred.rpartition(" is ")
    if not sep or not re.search(r"[A-Za-z]{3,}", _ANY_MATH.sub("", head)):
        return pred
    tail = _strip_answer(tail)
    return _DOLLAR.sub("", tail).strip() if _DOLLAR.search(tail) else tail


def _score(text: str, gold: str, mode: str) -> float:
    s = float(_r.math_reward([text], [gold], mode=mode, num_threads=1)[0])
    if s != 1.0 and _judge(_r.extract_answer(text, mode), _gold_answer(gold)):
        return 1.0
    return 0.0 if math.isnan(s) else s


def _last_math(text: str) -> str | None:
    # the last inline or display math of a text: "$\\frac{8}{15}$", "\\(x\\)", "\\[x\\]"
    spans = _ANY_MATH.findall(text)
    if not spans:
        return None
    return next((x for x in spans[-1] if x), "").strip() or None


def _numina(text: str, gold: str) -> float:
    # verl's prime_math grades the tail of any response, anchored or not: the
    # anchors of mode="auto" first, then the last math, then the last number
    pred = _r.extract_answer(text, "auto")
    if pred is None:
        pred = _last_math(text) or _r.extract_answer(text, "last_number")
    return 1.0 if _judge(pred, _gold_answer(gold)) else 0.0


def _strip_answer(s: str) -> str:
    # the bare answer of an "Answer: ..." line: no Markdown bold, math delimiters
    # or closing period around it
    s = s.strip().strip("*").strip()
    s = s.removesuffix(".").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) > len(left) + len(right):
            s = s[len(left) : -len(right)].strip()
            break
    return s.removesuffix(".").strip()


def _line_answer(line: str) -> str:
    # the answer on an "Answer: ..." line: what mode="auto" finds in it ("The
    # final answer is $X$. I hope it is correct."), else what a sentence says it
    # is ("The largest $n$ is 34."), else its last inline math ("so $17$."),
    # else the line itself ("12", "$12$.")
    found = _r.extract_answer(line, "auto")
    if found is not None:
        return _strip_answer(found)
    bare = _strip_answer(line)
    if _prose_tail(bare) != bare:  # "The largest $n$ is 34."
        return _prose_tail(bare)
    spans = _INLINE_MATH.findall(line)
    return spans[-1].strip() if spans and _DOLLAR.search(bare) else bare


def _unlabel(pred: str) -> str:
    # "f(x)=22", "(m,n)=(-8,7)", "a_3 = 5" -> the value after the label (verl keeps
    # the text after the last "="); only a label on the left, never an expression
    m = _LABELLED.match(pred)
    return m.group(1).strip() if m else pred


def _dapo(text: str, gold: str) -> dict[str, Any]:
    lines = _ANSWER_LINE.findall(text)
    pred: str | None
    if lines:
        pred = _line_answer(lines[-1])
    else:
        pred = _r.extract_answer(text, "boxed")
    acc = _judge(pred, _gold_answer(gold))
    return {
        "score": 1.0 if acc else -1.0,
        "acc": acc,
        "pred": pred if pred is not None else _INVALID,
    }


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float | dict[str, Any]:
    """Score one response as verl's ``default_compute_score`` routes it (see the module doc).

    Args:
        data_source: the dataset name; picks the scorer and the return type.
        solution_str: the decoded response.
        ground_truth: the gold answer (a number is turned into a string, as verl does).
        extra_info: accepted for verl's signature; unused, as in verl's default.
        **kwargs: verl's other arguments (``sandbox_fusion_url``, ...), unused.

    Returns:
        ``float`` for most sources, verl's ``{"score", "acc", "pred"}`` dict for
        ``math_dapo``/``math``/``aime*``.

    Raises:
        TypeError: a non-string ``data_source`` or ``solution_str``.
        NotImplementedError: a code or QA data source (not a math reward).
    """
    if not isinstance(data_source, str):
        raise TypeError(f"data_source must be str, got {type(data_source).__name__}")
    if not isinstance(solution_str, str):
        raise TypeError(f"solution_str must be str, got {type(solution_str).__name__}")
    if not isinstance(ground_truth, str):
        ground_truth = str(ground_truth)
    route = _route(data_source)
    if route == "gsm8k":
        return _score(solution_str, ground_truth, "gsm8k")
    if route == "math_reward":
        return _score(solution_str, ground_truth, "boxed")
    if route == "math_dapo":
        return _dapo(solution_str, ground_truth)
    if route == "prime_math":
        return _numina(solution_str, ground_truth)
    if route == "geo3k":
        acc = _score(solution_str, ground_truth, "boxed")
        fmt = float(_r.format_reward([solution_str], pattern=_GEO3K_FORMAT, num_threads=1)[0])
        format_score = 0.1  # verl's geo3k default
        return (1.0 - format_score) * acc + format_score * fmt
    return _score(solution_str, ground_truth, "auto")
