"""Format rewards (a full-match pattern) and DAPO's overlong penalty."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from postcouple import _core
from postcouple.rewards.math import _threads

__all__ = ["THINK_ANSWER_PATTERN", "format_reward", "overlong_penalty"]

#: The default of :func:`format_reward`: ``<think>...</think>`` then
#: ``<answer>...</answer>``, only whitespace around (R1 / Open-R1 style). Defined once,
#: in the Rust core.
THINK_ANSWER_PATTERN: str = _core.THINK_ANSWER_PATTERN


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
