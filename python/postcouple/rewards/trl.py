"""TRL drop-ins: reward functions with the signature of ``trl.rewards``.

Use them as ``reward_funcs`` of TRL's ``GRPOTrainer``; the dataset's
``solution`` column is passed as the keyword ``solution``. Completions may be
plain strings or conversational (``[{"role": "assistant", "content": ...}]``).
No ``signal.alarm``, so they also work off the main thread (TRL disables
math-verify's timeouts there).

Options (the extraction ``mode``, ``last_number_fallback``, the tolerance
``rel_tol``, ``strict``, and any other keyword of
:func:`postcouple.rewards.math_reward`) are keyword-only, so they can be bound
in either of the two forms TRL accepts, and TRL's logs keep the name
``accuracy_reward`` (``rewards/accuracy_reward/mean``):

- ``functools.partial(accuracy_reward, mode="boxed", rel_tol=1e-6)`` (TRL
  unwraps a partial to the wrapped function's name);
- ``make_accuracy_reward(mode="boxed", rel_tol=1e-6)``, which checks the
  options at once (a bad mode is a ``ValueError`` before training starts) and
  returns a picklable callable; ``name=`` sets another name for the logs.

Example:
    >>> from postcouple.rewards.trl import accuracy_reward, make_accuracy_reward
    >>> accuracy_reward([[{"role": "assistant", "content": "\\\\boxed{\\\\frac{1}{3}}"}]], ["\\\\frac13"])
    [1.0]
    >>> reward = make_accuracy_reward(last_number_fallback=True)
    >>> reward.__name__, reward(["so it is 7"], ["7"])
    ('accuracy_reward', [1.0])
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from postcouple import rewards as _r

__all__ = [
    "AccuracyReward",
    "FormatReward",
    "accuracy_reward",
    "format_reward",
    "make_accuracy_reward",
    "make_format_reward",
    "think_format_reward",
]

# the options of math_reward that a reward function may bind (the batch itself
# and the thread count are the trainer's business)
_MATH_OPTIONS = tuple(
    p.name
    for p in inspect.signature(_r.math_reward).parameters.values()
    if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "num_threads"
)
_THINK_PATTERN = r"\s*<think>.*?</think>.+"


def _contents(completions: list[Any]) -> list[str]:
    out = []
    for i, c in enumerate(completions):
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list) and c and isinstance(c[-1], dict) and "content" in c[-1]:
            out.append(c[-1]["content"])
        else:
            raise TypeError(
                f"completions[{i}] must be a str or a list of message dicts with 'content', "
                f"got {type(c).__name__}"
            )
    return out


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(_MATH_OPTIONS))
    if unknown:
        raise TypeError(
            f"unknown accuracy_reward option(s) {unknown}; expected some of {list(_MATH_OPTIONS)}"
        )
    mode = options.get("mode", "auto")
    if mode not in _r.MODES:
        raise ValueError(f"mode must be one of {list(_r.MODES)}, got {mode!r}")
    if "rel_tol" in options:
        tol = options["rel_tol"]
        if isinstance(tol, bool) or not isinstance(tol, (int, float)):
            raise TypeError(f"rel_tol must be a float, got {type(tol).__name__}")
        if not (tol >= 0 and math.isfinite(tol)):
            raise ValueError(f"rel_tol must be finite and >= 0, got {tol!r}")
    for key in ("last_number_fallback", "strict"):
        if key in options and not isinstance(options[key], bool):
            raise TypeError(f"{key} must be a bool, got {type(options[key]).__name__}")
    return options


def _accuracy(
    completions: list[Any],
    solution: list[str],
    options: dict[str, Any],
    log_extra: Callable[[str, list], None] | None,
) -> list[float | None]:
    texts = _contents(completions)
    golds = list(solution)
    scores = _r.math_reward(texts, golds, **options)
    if log_extra is not None:
        mode = options.get("mode", "auto")
        fallback = options.get("last_number_fallback", False)
        found = [_r.extract_answer(t, mode, last_number_fallback=fallback) for t in texts]
        log_extra("solution", golds)
        log_extra("answer_parsed", [a if a is not None else "[unparseable]" for a in found])
    return [None if math.isnan(s) else float(s) for s in scores.tolist()]


def accuracy_reward(
    completions: list[Any],
    solution: list[str],
    log_extra: Callable[[str, list], None] | None = None,
    *,
    mode: str = "auto",
    last_number_fallback: bool = False,
    rel_tol: float = 1e-9,
    strict: bool = False,
    **kwargs: Any,
) -> list[float | None]:
    """1.0 / 0.0 per completion; ``None`` where the gold cannot be parsed (TRL skips it).

    Same contract as ``trl.rewards.accuracy_reward``; the answer is found with
    ``mode`` (see :data:`postcouple.rewards.MODES`) and compared with
    :func:`postcouple.rewards.math_equal`.

    Args:
        completions: strings or conversations (the last message's ``content`` is scored).
        solution: one gold per completion (an answer or a reference solution).
        log_extra: TRL's callback for extra completion-table columns (set by the trainer).
        mode, last_number_fallback: where the answer is (see :func:`postcouple.rewards.extract_answer`).
        rel_tol, strict: how it is compared (see :func:`postcouple.rewards.math_equal`).
        **kwargs: the other dataset columns TRL passes (ignored), and any other
            keyword option of :func:`postcouple.rewards.math_reward`.

    Example:
        >>> accuracy_reward(["The answer is 12.", "\\\\boxed{13}"], ["12", "12"])
        [1.0, 0.0]
    """
    options = {
        "mode": mode,
        "last_number_fallback": last_number_fallback,
        "rel_tol": rel_tol,
        "strict": strict,
    }
    # options math_reward gained after this signature was written, bound with partial
    options.update({k: v for k, v in kwargs.items() if k in _MATH_OPTIONS})
    return _accuracy(completions, solution, _check_options(options), log_extra)


class AccuracyReward:
    """``accuracy_reward`` with bound options; made by :func:`make_accuracy_reward`.

    A module-level class, so it pickles (TRL may ship reward functions to
    worker processes); ``__name__`` is what TRL logs the reward under.
    """

    def __init__(self, name: str = "accuracy_reward", **options: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.__name__ = name
        self.options = _check_options(dict(options))

    def __call__(
        self,
        completions: list[Any],
        solution: list[str],
        log_extra: Callable[[str, list], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        return _accuracy(completions, solution, self.options, log_extra)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"make_accuracy_reward({opts}{', ' if opts else ''}name={self.__name__!r})"


def make_accuracy_reward(*, name: str = "accuracy_reward", **options: Any) -> AccuracyReward:
    """An ``accuracy_reward`` with its options bound and checked now.

    Args:
        name: the name TRL logs it under (``rewards/<name>/mean``).
        **options: any keyword of :func:`postcouple.rewards.math_reward` but
            ``num_threads``: ``mode``, ``last_number_fallback``, ``rel_tol``, ``strict``, ...

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an unknown ``mode`` or a negative / non-finite ``rel_tol``.

    Example:
        >>> reward = make_accuracy_reward(mode="gsm8k")
        >>> reward(["work\\n#### 1,234", "The answer is 1234."], ["1234", "1234"])
        [1.0, 0.0]
    """
    return AccuracyReward(name=name, **options)


def think_format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 if the completion is ``<think>...</think>`` then an answer (TRL's ``think_format_reward``)."""
    return _r.format_reward(_contents(completions), pattern=_THINK_PATTERN).tolist()


def format_reward(
    completions: list[Any], *, pattern: str | None = None, **kwargs: Any
) -> list[float]:
    """1.0 if the completion matches ``pattern`` (default ``<think>..</think><answer>..</answer>``, Open-R1's)."""
    return _r.format_reward(_contents(completions), pattern=pattern).tolist()


class FormatReward:
    """``format_reward`` with a bound pattern; made by :func:`make_format_reward`."""

    def __init__(self, pattern: str, name: str = "format_reward") -> None:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be str, got {type(pattern).__name__}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        _r.format_reward([""], pattern=pattern)  # a bad pattern fails here, not mid-training
        self.pattern = pattern
        self.__name__ = name

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        return _r.format_reward(_contents(completions), pattern=self.pattern).tolist()

    def __repr__(self) -> str:
        return f"make_format_reward({self.pattern!r}, name={self.__name__!r})"


def make_format_reward(pattern: str, *, name: str = "format_reward") -> FormatReward:
    """A format reward for your own full-match ``pattern`` (Rust regex syntax), checked now.

    Example:
        >>> make_format_reward(r"\\s*<answer>.*</answer>\\s*")(["<answer>4</answer>", "4"])
        [1.0, 0.0]
    """
    return FormatReward(pattern, name=name)
