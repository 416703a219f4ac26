"""Combining several reward functions into one reward per sample.

TRL's ``multi_objective_aggregation``: a (B, K) matrix of K reward functions'
scores becomes one (B,) reward, either summed then normalised or normalised
per function then summed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from postcouple._arrays import float_array
from postcouple.advantages import grpo

__all__ = ["combine_rewards"]


def combine_rewards(
    rewards_per_func: Any,
    weights: Any = None,
    *,
    mode: str = "sum_then_normalize",
    group_size: int | None = None,
    index: Any = None,
    eps: float = 1e-4,
) -> Any:
    """Combine K reward functions (B, K) into one reward (B,), as TRL's
    ``multi_objective_aggregation``.

    ``"sum_then_normalize"``: weighted sum, NaN entries skipped (``nansum``); a
    row whose every entry is NaN (unscorable) stays NaN. Normalise it afterwards
    with :func:`postcouple.advantages.grpo`. ``"normalize_then_sum"``: each
    column is first normalised within its group, ``(r - nanmean_g) /
    (nanstd_g + eps)`` (needs ``group_size``/``index``), then weighted-summed.
    TRL then whitens the sum over the batch:
    ``grpo(combined, index=np.zeros(B, int), compat="trl")``.

    Example:
        >>> R = np.array([[1.0, np.nan], [0.0, 2.0]])
        >>> combine_rewards(R, [1.0, 0.5])
        array([1., 1.])
    """
    R, back = float_array(rewards_per_func, "rewards_per_func", ndim=2)
    B, K = R.shape
    if weights is None:
        w = np.ones(K, dtype=R.dtype)
    else:
        w, _ = float_array(weights, "weights", ndim=1)
        if len(w) != K:
            raise ValueError(f"weights: has {len(w)} entries, rewards_per_func has {K} columns")
    unscorable = np.isnan(R).all(axis=1)
    if mode == "sum_then_normalize":
        out = np.nansum(R * w.astype(R.dtype), axis=1)
    elif mode == "normalize_then_sum":
        cols = [
            grpo(np.ascontiguousarray(R[:, k]), group_size=group_size, index=index, eps=eps,
                 unbiased_std=True, singleton="zero", nan="ignore", equal_groups="formula")
            for k in range(K)
        ]  # fmt: skip
        out = np.zeros(B, dtype=R.dtype)
        for k in range(K):
            out += cols[k] * R.dtype.type(w[k])
    else:
        raise ValueError(
            f"mode: expected 'sum_then_normalize' or 'normalize_then_sum', got {mode!r}"
        )
    out = out.astype(R.dtype, copy=False)
    out[unscorable] = np.nan
    return back(out)
