"""Verifiable rewards, scored by the Rust core: math answers, labels, formats.

Model outputs are hostile input. Every function here runs in bounded time and
memory on any string (caps in :func:`reward_caps`; over a cap an item scores
0), never evaluates text as code, uses no ``signal.alarm`` timeouts and is safe
in any thread. Batch functions release the GIL and score in parallel;
results are deterministic.

Conventions (documented defaults):

- an answer that cannot be found or parsed scores **0.0** (it is data, not an
  error);
- a gold that cannot be parsed scores **NaN** in :func:`math_reward` (the TRL
  drop-in turns it into ``None``, TRL's "skip this example");
- a gold may be the answer itself (``"\\frac{1}{2}"``) or a reference solution:
  a ``\\boxed{}`` or a GSM8K ``#### N`` in it is taken as the answer.

Example:
    >>> from postcouple.rewards import math_reward, math_equal
    >>> math_equal("0.5", "\\\\frac{1}{2}")
    True
    >>> math_reward(["so \\\\boxed{1/2}", "The answer is 3."], ["\\\\frac12", "4"]).tolist()
    [1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from postcouple import _core

__all__ = [
    "MODES",
    "THINK_ANSWER_PATTERN",
    "extract_answer",
    "format_reward",
    "label_reward",
    "math_equal",
    "math_reward",
    "overlong_penalty",
    "reward_caps",
]

#: Extraction modes. ``"auto"`` tries, in order: the last ``\boxed{}``/``\fbox{}``,
#: the last ``<answer>...</answer>``, GSM8K's ``#### N``, "the answer is ...",
#: "Answer: ...", and (only with ``last_number_fallback=True``) the last number.
MODES = ("auto", "boxed", "gsm8k", "answer_is", "answer_colon", "tag", "last_number", "choice")

#: The default of :func:`format_reward`: ``<think>...</think>`` then
#: ``<answer>...</answer>``, only whitespace around (R1 / Open-R1 style).
THINK_ANSWER_PATTERN = r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*"


def _threads(num_threads: int | None) -> int | None:
    if num_threads is not None and not isinstance(num_threads, int):
        raise TypeError(f"num_threads must be int or None, got {type(num_threads).__name__}")
    return num_threads


def extract_answer(
    text: str, mode: str = "auto", *, last_number_fallback: bool = False
) -> str | None:
    """The final answer in a completion, or ``None`` if there is none.

    Args:
        text: the model's completion.
        mode: one of :data:`MODES` (``"auto"`` tries them in the documented order).
        last_number_fallback: with ``"auto"``, fall back to the last number.

    Example:
        >>> extract_answer("... so the answer is $1,234.")
        '1,234'
        >>> extract_answer("work\\n#### 72")
        '72'
    """
    return _core.extract_answer(text, mode, last_number_fallback)


def math_equal(pred: str, gold: str, *, rel_tol: float = 1e-9, strict: bool = False) -> bool:
    """Whether answer ``pred`` equals answer ``gold``; the gold decides the form.

    Exact rational arithmetic where both sides are rational; otherwise complex
    floating point within ``rel_tol``, and for expressions in variables,
    agreement at 10 random points (polynomial identity testing). Tuples are
    ordered, sets and bare lists unordered, intervals keep their brackets,
    equations are equal up to a non-zero factor. Values that overflow ``f64``
    are compared structurally. An unparseable side is not equal.

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
    """
    return _core.math_equal(pred, gold, rel_tol, strict)


def math_reward(
    completions: Sequence[str],
    golds: Sequence[str],
    *,
    mode: str = "auto",
    last_number_fallback: bool = False,
    rel_tol: float = 1e-9,
    strict: bool = False,
    num_threads: int | None = None,
) -> np.ndarray:
    """1.0 where a completion's answer equals its gold, else 0.0; NaN for an unparseable gold.

    Args:
        completions: model outputs (plain strings).
        golds: one gold per completion: an answer or a reference solution.
        mode, last_number_fallback: see :func:`extract_answer`.
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
        float(rel_tol),
        strict,
        _threads(num_threads),
    )


def label_reward(
    completions: Sequence[str],
    labels: Sequence[str],
    *,
    mode: str = "auto",
    choices: Sequence[str] | None = None,
    case_sensitive: bool = False,
    num_threads: int | None = None,
) -> np.ndarray:
    """1.0 where the extracted answer is the label (classification, e.g. CoLA), else 0.0.

    The answer and the label are compared after stripping ``\\text{}``, ``$``,
    ``**``, quotes and surrounding punctuation, case-insensitively by default.

    Args:
        completions: model outputs.
        labels: one label per completion.
        mode: where the answer is (see :data:`MODES`; ``"tag"`` for ``<answer>X</answer>``).
        choices: the valid labels; a label outside them is a ``ValueError``.
        case_sensitive: compare case-sensitively.
        num_threads: as in :func:`math_reward`.

    Example:
        >>> label_reward(["<answer>acceptable</answer>"], ["acceptable"]).tolist()
        [1.0]
    """
    if choices is not None:
        keys = {c if case_sensitive else c.lower() for c in choices}
        for i, lab in enumerate(labels):
            if not isinstance(lab, str):
                raise TypeError(f"labels[{i}] must be str, got {type(lab).__name__}")
            if (lab if case_sensitive else lab.lower()) not in keys:
                raise ValueError(f"labels[{i}] = {lab!r} is not one of choices {list(choices)}")
    return _core.label_reward(completions, labels, mode, case_sensitive, _threads(num_threads))


def format_reward(
    completions: Sequence[str],
    *,
    pattern: str | None = None,
    num_threads: int | None = None,
) -> np.ndarray:
    """1.0 where the whole completion matches ``pattern``, else 0.0.

    Full-match semantics (the pattern must cover the whole completion), ``.``
    matches newlines. The pattern is Rust ``regex`` syntax (no look-around or
    backreferences); matching is linear time, so no completion can make it slow.

    Args:
        completions: model outputs.
        pattern: a regular expression; default :data:`THINK_ANSWER_PATTERN`.
        num_threads: as in :func:`math_reward`.

    Example:
        >>> format_reward(["<think>hm</think> <answer>1</answer>", "1"]).tolist()
        [1.0, 0.0]
    """
    return _core.format_reward(completions, pattern, _threads(num_threads))


def overlong_penalty(
    lengths: Sequence[int] | np.ndarray, max_len: int, buffer: int, factor: float = 1.0
) -> np.ndarray:
    """DAPO's soft overlong punishment (verl's ``overlong_buffer``), added to the reward.

    0 for ``length <= max_len - buffer``, then ``-(length - (max_len - buffer)) / buffer * factor``
    (so ``-factor`` at ``max_len``; longer responses go on below, unclipped, as in verl).

    Example:
        >>> overlong_penalty([10, 90, 100], max_len=100, buffer=20).tolist()
        [0.0, -0.5, -1.0]
    """
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise ValueError(f"lengths must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    return _core.overlong_penalty(
        np.ascontiguousarray(arr, dtype=np.int64), int(max_len), int(buffer), float(factor)
    )


def reward_caps() -> dict[str, int]:
    """The caps that bound the work on one answer (over a cap, the item scores 0)."""
    return _core.reward_caps()
