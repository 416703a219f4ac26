"""Math answers: extraction (:func:`extract_answer`), equivalence (:func:`math_equal`)
and the batch reward (:func:`math_reward`). See :mod:`postcouple.rewards` for the conventions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from postcouple import _core

__all__ = ["MODES", "extract_answer", "math_equal", "math_reward", "reward_caps"]

#: Extraction modes (defined once, in the Rust core). ``"auto"`` tries them in the order
#: documented in :func:`extract_answer`.
MODES: tuple[str, ...] = _core.MODES


def _threads(num_threads: int | None) -> int | None:
    if num_threads is not None and not isinstance(num_threads, int):
        raise TypeError(f"num_threads must be int or None, got {type(num_threads).__name__}")
    return num_threads


def extract_answer(
    text: str,
    mode: str = "auto",
    *,
    last_math_fallback: bool = True,
    last_number_fallback: bool = False,
) -> str | None:
    """The final answer in a completion, or ``None`` if there is none.

    ``"auto"`` tries, in order: the last ``\\boxed{}``/``\\fbox{}`` (with the boxes
    right before it that only ``,``/``and``/``or``/``\\quad`` separate: one answer
    spread over several boxes); the last ``<answer>...</answer>``; GSM8K's
    ``#### N``; whichever of "the answer is ..." and "Answer: ..." (also
    ``**Final Answer:**``) comes last; a line ``A: ...``; then the fallbacks.
    After an anchor the answer is the leading ``$...$`` if there is one, else
    the text after a last " is " (``Final Answer: The largest $n$ is 34.``),
    with words after a number cut (``42 apples`` is ``42``).

    Args:
        text: the model's completion.
        mode: one of :data:`MODES` (``"auto"`` tries them in the documented order).
        last_math_fallback: with ``"auto"`` and no anchor, take the last math
            segment (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``), as
            math-verify's ``parse`` does. On by default: a completion that is only
            ``$\\frac98$`` is answered.
        last_number_fallback: then fall back to the last plain number (off by
            default: TRL's ``accuracy_reward`` does not read numbers in prose).

    Example:
        >>> extract_answer("... so the answer is $1,234.")
        '1,234'
        >>> extract_answer("work\\n#### 72")
        '72'
        >>> extract_answer("Final Answer: The final answer is $\\\\frac{1}{2}$. I hope it is correct.")
        '\\\\frac{1}{2}'
        >>> extract_answer("so we get $x = 3$")
        'x = 3'
    """
    return _core.extract_answer(text, mode, last_number_fallback, last_math_fallback)


def math_equal(pred: str, gold: str, *, rel_tol: float = 1e-9, strict: bool = False) -> bool:
    """Whether answer ``pred`` equals answer ``gold``; the gold decides the form.

    Exact rational arithmetic where both sides are rational (over ``i128``, and
    arbitrary precision past it, so ``2^{128}+1`` is not ``2^{128}``); otherwise
    complex floating point within ``rel_tol``, and for expressions in
    variables, agreement at 10 random points (polynomial identity testing).
    Tuples are ordered, sets and bare lists unordered, intervals keep their
    brackets, equations are equal up to a non-zero factor. Values that
    overflow ``f64`` are compared structurally. An unparseable side is not
    equal. Symmetric except where the gold decides the form (an ordered gold
    tuple against an unordered list).

    Forms read as the same answer:

    - lists joined by ``,``, ``or``, ``and``, ``\\text{ or }``, ``\\quad``, and
      ``\\pm`` (``3 or -3`` = ``\\pm 3`` = ``3, -3``);
    - labelled answers: ``x = 5``, ``(p,q)=(3,2)``, ``a_3 = 2, a_{37} = 19`` (any
      order), ``AB=4, CD=5``, ``f(x)=1``, ``g(2)=-10`` against the values;
      ``x = 2, y = 3`` against a tuple in the order of the labels;
    - ratios ``7:32`` (the quotient); ``V_1:V_2=11:21``;
    - inequalities and intervals either way round (``\\ge``, ``>=``, ``\\lt``,
      ``\\ne``/``!=``), ``0<f(x)<1``, ``1\\le|z|\\le\\frac32`` as a union,
      ``x < -1 or x > 11``, ``x \\ne 1``;
    - letter choices ``B`` = ``(B)`` = ``\\text{B}`` = ``\\textbf{(B)}``;
    - a decimal that rounds an exact rational: 6 or more significant digits
      (or 6 decimal places and 3 significant digits), the rational rounding to
      it at its last place; from 12 digits one unit in the last place (a
      printed float). ``0.0833333333333333`` and ``0.083333`` equal
      ``\\frac{1}{12}``; ``0.08333`` and ``0.33`` (for ``\\frac13``) do not;
    - ``0.\\overline{3}`` = ``\\frac13``, ``1e-3``, ``5.6e3``, ``7 1/2``,
      ``23{,}924{,}986``, ``36 320 014``, ``14\\,602\\,087``, U+2212 minus;
    - matrices in any environment (also ``\\left[\\begin{array}..\\right]``),
      ``\\{\\}`` = ``\\emptyset`` = ``\\varnothing``, ``\\mathbb{R}`` =
      ``(-\\infty,\\infty)``, ``{5 \\choose 2}`` = ``10``, ``\\sqrt{-1}`` = ``i``;
    - outside strict mode: percent and units (``76%``, ``28 pct``,
      ``28 percentage points`` against ``28``; ``50%`` against ``0.5``).

    Args:
        pred: the predicted answer (not a whole solution: see :func:`extract_answer`).
        gold: the reference answer.
        rel_tol: relative tolerance for values that cannot be exact.
        strict: no percent rescaling (``50%`` vs ``0.5``), no dropping a variable
            binding (``x = 5`` vs ``5``), tuples and bare lists not interchangeable.

    Example:
        >>> math_equal("(x+1)^2", "x^2+2x+1")
        True
        >>> math_equal("\\\\pm 2021", "2021")
        False
        >>> math_equal("3 \\\\text{ or } -3", "\\\\pm 3"), math_equal("2^{128}+1", "2^{128}")
        (True, False)
    """
    return _core.math_equal(pred, gold, rel_tol, strict)


def math_reward(
    completions: Sequence[str],
    golds: Sequence[str],
    *,
    mode: str = "auto",
    last_math_fallback: bool = True,
    last_number_fallback: bool = False,
    rel_tol: float = 1e-9,
    strict: bool = False,
    num_threads: int | None = None,
) -> np.ndarray:
    """1.0 where a completion's answer equals its gold, else 0.0; NaN for an unparseable gold.

    Args:
        completions: model outputs (plain strings).
        golds: one gold per completion: an answer or a reference solution.
        mode, last_math_fallback, last_number_fallback: see :func:`extract_answer`.
        rel_tol, strict: see :func:`math_equal`.
        num_threads: threads for the batch (``None``: all cores; 1: this thread).

    Returns:
        float32 array of shape ``(len(completions),)``.

    Example:
        >>> math_reward(["\\\\boxed{3}", "\\\\boxed{4}"], ["#### 3", "#### 3"]).tolist()
        [1.0, 0.0]
    """
    return _core.math_reward(
        completions,
        golds,
        mode,
        last_number_fallback,
        last_math_fallback,
        float(rel_tol),
        strict,
        _threads(num_threads),
    )


def reward_caps() -> dict[str, int]:
    """The caps that bound the work on one answer (over a cap, the item scores 0)."""
    return _core.reward_caps()
