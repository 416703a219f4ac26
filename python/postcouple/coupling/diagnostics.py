"""The theory, made measurable: C1(beta), and the statistics of the two effects.

Theorem 3.1 of the paper: RL with KL coefficient beta from a reference p_SFT
converges to p_RL = p_SFT * exp(r / beta) / Z_beta, and there the SFT loss
(expected NLL of the expert data, nats per response) has risen by

    C1(beta) = E_x[ log Z_beta(x) - E_{y ~ p_D}[r(x, y)] / beta ] >= 0,
    Z_beta(x) = E_{y ~ p_SFT}[ exp(r(x, y) / beta) ].

This identity holds for any p_SFT (log p_RL = log p_SFT + r/beta - log Z), so
the prediction is exact at the RL optimum; the ">= 0" needs p_SFT to be the
SFT optimum. We estimate log Z_beta(x) from ``n`` samples of the SFT model per
prompt with a log-mean-exp (stable for small beta); by Jensen the estimate is
biased low, by about Var(exp(r/beta)) / (2 n Z^2), and we report its standard
error over prompts. E_{p_D}[r] comes from the held-out expert responses.

Significance: with paired before/after values per seed, a one-sided paired
t-test (scipy ``ttest_rel``) in the direction the paper claims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def log_mean_exp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(mean(exp(x)))`` along ``axis``, without overflow."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.mean(np.exp(x - m), axis=axis))


def c1_from_rewards(
    sampled: np.ndarray, expert_reward: float | np.ndarray, beta: float
) -> dict[str, float]:
    """C1(beta) from rewards of SFT-model samples, shape (num_prompts, n), and the
    expert's mean reward (a scalar or one value per prompt).

    Example:
        >>> import numpy as np
        >>> r = np.array([[1.0, 0.0], [0.0, 0.0]])
        >>> round(c1_from_rewards(r, 0.25, 1.0)["c1"], 4)
        0.0601
    """
    if beta <= 0:
        raise ValueError(f"beta: expected > 0, got {beta}")
    s = np.asarray(sampled, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"sampled: expected shape (num_prompts, n), got {s.shape}")
    log_z = log_mean_exp(s / beta, axis=1)  # (P,)
    er = np.broadcast_to(np.asarray(expert_reward, dtype=np.float64), log_z.shape)
    per = log_z - er / beta
    return {
        "beta": float(beta),
        "c1": float(per.mean()),
        "c1_se": float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else float("nan"),
        "log_z": float(log_z.mean()),
        "expert_reward": float(er.mean()),
        "sft_reward": float(s.mean()),
        "n": int(s.shape[1]),
    }


def estimate_c1(
    model: Any,
    tok: Any,
    task: Any,
    betas: Sequence[float],
    *,
    num_prompts: int,
    num_samples: int,
    max_new_tokens: int,
    seed: int = 0,
    batch_prompts: int = 16,
) -> list[dict[str, float]]:
    """Sample the (SFT) model and return the C1(beta) estimate for each beta."""
    import torch

    from postcouple.train.sampling import sample_and_score

    ex = task.eval_examples()
    prompts = ex[:num_prompts]
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(prompts), batch_prompts):
            chunk = prompts[i : i + batch_prompts]
            _, r, _ = sample_and_score(
                model, tok, task, chunk, num_generations=num_samples, max_new_tokens=max_new_tokens
            )  # (len(chunk) * n,) at temperature 1
            rows.append(r.reshape(len(chunk), -1))
    sampled = np.concatenate(rows, 0)  # (P, n)
    expert_ex = ex  # the held-out expert responses
    er = float(np.nanmean(task.reward([e.response for e in expert_ex], expert_ex)))
    return [c1_from_rewards(sampled, er, b) for b in betas]


def cosine_and_norms(g_sft: Any, g_rl: Any) -> tuple[float, float, float]:
    """``(cos(g_sft, g_rl), |g_sft|, |g_rl|)`` of two flat gradient tensors; the
    cosine is NaN when either gradient is zero.

    Example:
        >>> import torch
        >>> cosine_and_norms(torch.tensor([3.0, 4.0]), torch.tensor([4.0, 3.0]))
        (0.96, 5.0, 5.0)
    """
    ns, nr = float(g_sft.norm()), float(g_rl.norm())
    cos = float(g_sft @ g_rl) / (ns * nr) if ns > 0 and nr > 0 else float("nan")
    return cos, ns, nr


def paired_test(
    before: Sequence[float], after: Sequence[float], alternative: str
) -> dict[str, Any]:
    """One-sided paired t-test of after vs before over seeds (``alternative`` is
    ``"greater"`` or ``"less"``: the direction claimed)."""
    b, a = np.asarray(before, float), np.asarray(after, float)
    d = a - b
    out: dict[str, Any] = {
        "test": f"paired t-test, one-sided ({alternative}), n={len(d)} seeds",
        "mean_diff": float(d.mean()),
        "std_diff": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
    }
    if len(d) < 2:
        out["p_value"] = float("nan")
        return out
    if np.all(d == d[0]):  # zero variance: t is +-inf or undefined
        sign = np.sign(d[0]) if alternative == "greater" else -np.sign(d[0])
        out["p_value"] = 0.0 if sign > 0 else 1.0
        return out
    from scipy import stats

    out["p_value"] = float(stats.ttest_rel(a, b, alternative=alternative).pvalue)
    return out


def first_negative(steps: Sequence[int], values: Sequence[float]) -> int | None:
    """The first step at which ``values`` (e.g. the gradient cosine) is below 0."""
    for s, v in zip(steps, values):
        if v is not None and np.isfinite(v) and v < 0:
            return int(s)
    return None
