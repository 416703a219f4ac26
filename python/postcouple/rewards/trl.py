"""TRL drop-ins: reward functions with the signature of ``trl.rewards``.

Use them as ``reward_funcs`` of TRL's ``GRPOTrainer``; the dataset's
``solution`` column is passed as the keyword ``solution``. Completions may be
plain strings or conversational (``[{"role": "assistant", "content": ...}]``).
No ``signal.alarm``, so they also work off the main thread (TRL disables
math-verify's timeouts there).

Example:
    >>> from postcouple.rewards.trl import accuracy_reward
    >>> accuracy_reward([[{"role": "assistant", "content": "\\\\boxed{\\\\frac{1}{3}}"}]], ["\\\\frac13"])
    [1.0]
"""

from __future__ import annotations

import math
from typing import Any

from postcouple import rewards as _r

__all__ = ["accuracy_reward", "format_reward", "think_format_reward"]


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


def accuracy_reward(
    completions: list[Any], solution: list[str], **kwargs: Any
) -> list[float | None]:
    """1.0 / 0.0 per completion; ``None`` where the gold cannot be parsed (TRL skips it).

    Same contract as ``trl.rewards.accuracy_reward``; the answer is found with
    ``mode="auto"`` and compared with :func:`postcouple.rewards.math_equal`.
    """
    scores = _r.math_reward(_contents(completions), list(solution))
    return [None if math.isnan(s) else float(s) for s in scores.tolist()]


def think_format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 if the completion is ``<think>...</think>`` then an answer (TRL's ``think_format_reward``)."""
    return _r.format_reward(_contents(completions), pattern=r"\s*<think>.*?</think>.+").tolist()


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 if the completion is ``<think>...</think><answer>...</answer>`` (Open-R1's ``format_reward``)."""
    return _r.format_reward(_contents(completions)).tolist()
