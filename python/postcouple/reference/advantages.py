"""numpy references for ``postcouple.advantages``, written from the formulas.

Two kinds, both independent of the Rust core:

- ``ref_*``: the estimators with every option, group by group in plain Python
  loops (slow, obvious); the oracle for the property tests.
- ``verl_*``, ``trl_*``, ``openrlhf_*``: each peer's function restated in numpy
  the way the peer computes it (verl 0.9.1 ``verl/trainer/ppo/core_algos.py``,
  TRL 1.16 ``grpo_trainer.py``/``rloo_trainer.py``, OpenRLHF 0.11
  ``experience_maker.py``), for the ``compat`` presets.
- ``*_vectorized``: the fastest plain-numpy versions, the baselines of
  ``benches/bench_advantages.py``.

Sequence-level functions take rewards (B,) and return (B,); token-level ones
take (B, T) arrays and a 0/1 mask.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------
# groups


def group_members(n: int, group_size: int | None = None, index: Any = None) -> list[np.ndarray]:
    """Sample indices of each group, in order of first appearance."""
    if group_size is not None:
        return [np.arange(s, s + group_size) for s in range(0, n, group_size)]
    members: dict[Any, list[int]] = defaultdict(list)
    for i, k in enumerate(list(index)):
        members[k].append(i)
    return [np.array(v) for v in members.values()]


def _std(x: np.ndarray, unbiased: bool) -> float:
    n = len(x)
    d = n - 1 if unbiased else n
    m2 = float(((x - x.mean()) ** 2).sum()) if n else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sqrt(np.float64(m2) / np.float64(d)))


# ---------------------------------------------------------------------------
# generic references (every option)


def ref_grpo(
    r: np.ndarray,
    groups: list[np.ndarray],
    *,
    scale: str = "group",
    eps: float = 1e-6,
    unbiased_std: bool = True,
    singleton: str = "zero",
    nan: str = "ignore",
    equal_groups: str = "zero",
) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros_like(r)
    ignore = nan == "ignore"
    valid_all = r[~np.isnan(r)] if ignore else r
    batch_std = _std(valid_all, unbiased_std)
    for g in groups:
        x = r[g]
        if len(g) == 1 and singleton != "formula":
            if singleton == "zero":
                out[g] = 0.0 * x
            else:  # no_baseline: mean 0, std 1
                d = {"group": 1.0 + eps, "batch": batch_std + eps, "none": 1.0}[scale]
                out[g] = x / d
            continue
        v = x[~np.isnan(x)] if ignore else x
        mean = v.sum() / len(v) if len(v) else np.nan
        if equal_groups == "zero" and len(v) and v.min() == v.max():
            out[g] = 0.0 * x
            continue
        if scale == "group":
            out[g] = (x - mean) / (_std(v, unbiased_std) + eps)
        elif scale == "batch":
            out[g] = (x - mean) / (batch_std + eps)
        else:
            out[g] = x - mean
    if ignore:
        out[np.isnan(out)] = 0.0
    return out


def _simple(
    r: np.ndarray, groups, singleton: str, nan: str, equal_groups: str, f, single_raw
) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros_like(r)
    ignore = nan == "ignore"
    for g in groups:
        x = r[g]
        if len(g) == 1 and singleton != "formula":
            out[g] = 0.0 * x if singleton == "zero" else single_raw(x)
            continue
        keep = ~np.isnan(x) if ignore else np.ones(len(x), bool)
        v = x[keep]
        if equal_groups == "zero" and len(v) and v.min() == v.max():
            out[g] = 0.0 * x
            continue
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-NaN group
            out[g] = f(x, keep, g)
    if ignore:
        out[np.isnan(out)] = 0.0
    return out


def ref_rloo(r, groups, *, singleton="zero", nan="ignore", equal_groups="zero") -> np.ndarray:
    def f(x, keep, g):
        v = x[keep]
        n = len(v)
        return np.array([xi - (v.sum() - xi) / np.float64(n - 1) for xi in x])

    return _simple(r, groups, singleton, nan, equal_groups, f, lambda x: x)


def ref_mean_baseline(r, groups, *, singleton="zero", nan="ignore", equal_groups="zero"):
    return _simple(
        r, groups, singleton, nan, equal_groups, lambda x, k, g: x - x[k].mean(), lambda x: x
    )


def ref_opo(r, lengths, groups, *, singleton="zero", nan="ignore", equal_groups="zero"):
    lengths = np.asarray(lengths, dtype=np.float64)

    def f(x, keep, g):
        w = lengths[g][keep]
        return x - (w * x[keep]).sum() / w.sum()

    return _simple(r, groups, singleton, nan, equal_groups, f, lambda x: x)


def ref_gpg(r, groups, *, f_norm=1.0, singleton="zero", nan="ignore", equal_groups="zero"):
    r = np.asarray(r, dtype=np.float64)
    nz = np.count_nonzero(r[~np.isnan(r)]) if nan == "ignore" else np.count_nonzero(r)
    alpha = len(r) / max(int(nz), 1)
    return _simple(
        r,
        groups,
        singleton,
        nan,
        equal_groups,
        lambda x, k, g: alpha * (x - x[k].mean()) / f_norm,
        lambda x: alpha * x / f_norm,
    )


def ref_passk(r, groups, *, normalize=True, eps=1e-6, unbiased_std=True, nan="ignore"):
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros_like(r)
    for g in groups:
        x = r[g]
        if np.isnan(x).any() and nan != "ignore":
            out[g] = np.nan
            continue
        ok = np.nonzero(~np.isnan(x))[0]
        if len(ok) < 2:
            continue
        order = sorted(ok, key=lambda i: (-x[i], i))  # best first, first index on ties
        a = x[order[0]] - x[order[1]]
        if normalize:
            a = a / (_std(x[ok], unbiased_std) + eps)
        out[g[order[0]]] = a
    if nan == "ignore":
        out[np.isnan(out)] = 0.0
    return out


def ref_to_token_level(adv, mask) -> np.ndarray:
    return np.asarray(adv)[:, None] * (np.asarray(mask) != 0)


def ref_masked_whiten(values, mask, *, shift_mean=True, unbiased=True, eps=1e-8, clamp=False):
    v = np.asarray(values, dtype=np.float64)
    sel = v[np.asarray(mask) != 0]
    mean = sel.mean()
    var = ((sel - mean) ** 2).sum() / (len(sel) - 1 if unbiased else len(sel))
    rstd = 1 / np.sqrt(max(var, eps)) if clamp else 1 / np.sqrt(var + eps)
    out = (v - mean) * rstd
    return out if shift_mean else out + mean


def ref_discounted_returns(rewards, mask, gamma, *, skip_masked=True) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    m = np.asarray(mask) != 0
    out = np.zeros_like(r)
    for b in range(r.shape[0]):
        run = 0.0
        for t in reversed(range(r.shape[1])):
            if m[b, t]:
                run = r[b, t] + gamma * run
                out[b, t] = run
            elif not skip_masked:
                run = gamma * run
    return out


def ref_gae(rewards, values, mask, gamma, lam, *, skip_masked=True):
    """Unwhitened ``(advantages, returns)``, 0 where masked."""
    r = np.asarray(rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask) != 0
    adv = np.zeros_like(r)
    B, T = r.shape
    for b in range(B):
        valid = [t for t in range(T) if m[b, t]] if skip_masked else list(range(T))
        last, nextv = 0.0, 0.0
        for t in reversed(valid):
            rt, vt = (r[b, t], v[b, t]) if m[b, t] else (0.0, 0.0)
            delta = rt + gamma * nextv - vt
            last = delta + gamma * lam * last
            nextv = vt
            adv[b, t] = last
    ret = (adv + v) * m
    return adv * m, ret


# ---------------------------------------------------------------------------
# the peers, restated in numpy as each computes it


def verl_masked_whiten(values, mask):
    """verl_F.masked_whiten: Bessel variance, mean over (mask.sum() + 1e-8)."""
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    mean = (v * m).sum() / (m.sum() + 1e-8)
    var = (((v - mean) ** 2) * m).sum() / (m.sum() + 1e-8)
    var = var * m.sum() / (m.sum() - 1)
    return (v - mean) / np.sqrt(var + 1e-8)


def verl_grpo(scores, index, epsilon=1e-6, norm_adv_by_std_in_grpo=True):
    """verl compute_grpo_outcome_advantage (the default loop)."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    id2score = defaultdict(list)
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
    id2mean, id2std = {}, {}
    for k, v in id2score.items():
        if len(v) == 1:
            id2mean[k], id2std[k] = 0.0, 1.0
        else:
            id2mean[k], id2std[k] = np.mean(v), np.std(v, ddof=1)
    for i in range(len(scores)):
        if norm_adv_by_std_in_grpo:
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[index[i]]
    return scores


def verl_rloo(scores, index):
    """verl compute_rloo_outcome_advantage (the loop)."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    id2score = defaultdict(list)
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
    id2mean = {k: (0.0 if len(v) == 1 else np.mean(v)) for k, v in id2score.items()}
    for i in range(len(scores)):
        n = len(id2score[index[i]])
        if n > 1:
            scores[i] = scores[i] * n / (n - 1) - id2mean[index[i]] * n / (n - 1)
    return scores


def verl_opo(scores, lengths, index):
    scores = np.asarray(scores, dtype=np.float64).copy()
    id2s, id2l = defaultdict(list), defaultdict(list)
    for i in range(len(scores)):
        id2s[index[i]].append(scores[i])
        id2l[index[i]].append(float(lengths[i]))
    bsl = {}
    for k in id2s:
        s, ln = np.array(id2s[k]), np.array(id2l[k])
        bsl[k] = 0.0 if len(s) == 1 else (ln * s).sum() / ln.sum()
    return np.array([scores[i] - bsl[index[i]] for i in range(len(scores))])


def verl_gpg(scores, index, f_norm=1.0):
    scores = np.asarray(scores, dtype=np.float64)
    alpha = len(scores) / max(int(np.count_nonzero(scores)), 1)
    id2s = defaultdict(list)
    for i in range(len(scores)):
        id2s[index[i]].append(scores[i])
    mean = {k: (0.0 if len(v) == 1 else np.mean(v)) for k, v in id2s.items()}
    return np.array([alpha * (scores[i] - mean[index[i]]) / f_norm for i in range(len(scores))])


def verl_passk(scores, index, epsilon=1e-6, norm_adv_by_std_in_grpo=True):
    scores = np.asarray(scores, dtype=np.float64)
    out = np.zeros_like(scores)
    id2s, id2i = defaultdict(list), defaultdict(list)
    for i in range(len(scores)):
        id2s[index[i]].append(scores[i])
        id2i[index[i]].append(i)
    for k in id2s:
        s = np.array(id2s[k])
        order = np.argsort(-s, kind="stable")
        a = s[order[0]] - s[order[1]]
        if norm_adv_by_std_in_grpo:
            a = a / (np.std(s, ddof=1) + epsilon)
        out[id2i[k][order[0]]] = a
    return out


def verl_reinforce_pp_baseline(scores, mask, index):
    scores = np.asarray(scores, dtype=np.float64).copy()
    id2s = defaultdict(list)
    for i in range(len(scores)):
        id2s[index[i]].append(scores[i])
    mean = {k: (0.0 if len(v) == 1 else np.mean(v)) for k, v in id2s.items()}
    scores = np.array([scores[i] - mean[index[i]] for i in range(len(scores))])
    m = np.asarray(mask, dtype=np.float64)
    tok = scores[:, None] * m
    return verl_masked_whiten(tok, m) * m


def verl_reinforce_pp(token_level_rewards, mask, gamma):
    """verl 0.9.1: masked (observation) tokens carry the running return."""
    r = np.asarray(token_level_rewards, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    returns = np.zeros_like(r)
    running = np.zeros(r.shape[0])
    for t in reversed(range(r.shape[1])):
        new = r[:, t] + gamma * running
        returns[:, t] = new * m[:, t]
        running = new * m[:, t] + running * (1 - m[:, t])
    return verl_masked_whiten(returns, m) * m, returns


def verl_gae(token_level_rewards, values, mask, gamma, lam):
    r = np.asarray(token_level_rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    nextvalues = np.zeros(r.shape[0])
    lastgaelam = np.zeros(r.shape[0])
    rev = []
    for t in reversed(range(r.shape[1])):
        delta = r[:, t] + gamma * nextvalues - v[:, t]
        lastgaelam_ = delta + gamma * lam * lastgaelam
        nextvalues = v[:, t] * m[:, t] + (1 - m[:, t]) * nextvalues
        lastgaelam = lastgaelam_ * m[:, t] + (1 - m[:, t]) * lastgaelam
        rev.append(lastgaelam)
    adv = np.stack(rev[::-1], axis=1)
    returns = adv + v
    return verl_masked_whiten(adv, m), returns


def verl_remax(token_level_rewards, reward_baselines, mask):
    r = np.asarray(token_level_rewards, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    returns = np.flip(np.cumsum(np.flip(r * m, -1), -1), -1)
    return returns - np.asarray(reward_baselines)[:, None] * m, returns


def _nanstd(x: np.ndarray, axis=None, keepdims=False):
    """TRL's nanstd: Bessel over the non-NaN entries, NaN when fewer than 2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(x, axis=axis, keepdims=True)
        var = np.nanmean((x - mean) ** 2, axis=axis, keepdims=True)
        count = np.sum(~np.isnan(x), axis=axis, keepdims=True)
        corr = np.where(count > 1, count / np.maximum(count - 1, 1), np.nan)
        std = np.sqrt(var * corr)
    return std if keepdims else np.squeeze(std, axis=axis)


def trl_grpo(rewards, num_generations, scale_rewards="group"):
    """TRL GRPOTrainer (sum_then_normalize), advantages after nan_to_num."""
    r = np.asarray(rewards, dtype=np.float64)
    G = num_generations
    with np.errstate(invalid="ignore", divide="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.repeat(np.nanmean(r.reshape(-1, G), axis=1), G)
            if scale_rewards in ("group", "none"):
                std = np.repeat(_nanstd(r.reshape(-1, G), axis=1), G) if G > 1 else np.zeros_like(r)
            else:
                std = np.full_like(r, _nanstd(r)) if r.size > 1 else np.zeros_like(r)
            adv = r - mean
            if scale_rewards != "none":
                adv = adv / (std + 1e-4)
    return np.nan_to_num(adv, nan=0.0)


def trl_rloo(rewards, num_generations):
    """TRL RLOOTrainer (normalize_advantages=False)."""
    r = np.asarray(rewards, dtype=np.float64)
    G = num_generations
    if G == 1:
        return np.zeros_like(r)
    g = r.reshape(-1, G)
    cnt = (~np.isnan(g)).sum(axis=1, keepdims=True)
    s = np.nansum(g, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        adv = r - ((s - g) / (cnt - 1)).reshape(-1)
    return np.nan_to_num(adv, nan=0.0)


def trl_normalize_then_sum(rewards_per_func, weights, num_generations):
    """TRL normalize_then_sum: per-function group normalisation, weighted nansum,
    then batch whitening; returns the final advantages."""
    R = np.asarray(rewards_per_func, dtype=np.float64)
    K = R.shape[1]
    G = num_generations
    unscorable = np.isnan(R).all(axis=1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        grouped = R.reshape(-1, G, K)
        mean_k = np.nanmean(grouped, axis=1, keepdims=True)
        std_k = _nanstd(grouped, axis=1, keepdims=True) if G > 1 else np.zeros_like(mean_k)
        reward_k = ((grouped - mean_k) / (std_k + 1e-4)).reshape(-1, K)
        rewards = np.nansum(reward_k * np.asarray(weights)[None, :], axis=1)
        rewards[unscorable] = np.nan
        std = (
            np.full_like(rewards, _nanstd(rewards)) if rewards.size > 1 else np.zeros_like(rewards)
        )
        adv = (rewards - np.nanmean(rewards)) / (std + 1e-4)
    return np.nan_to_num(adv, nan=0.0)


def openrlhf_group(rewards, n_samples_per_prompt, estimator):
    """OpenRLHF reward shaping: rloo, reinforce_baseline/dr_grpo, group_norm (torch.std:
    Bessel, NaN for one sample)."""
    r = np.asarray(rewards, dtype=np.float64).reshape(-1, n_samples_per_prompt)
    n = n_samples_per_prompt
    with np.errstate(invalid="ignore", divide="ignore"):
        if estimator == "rloo":
            out = r - (r.sum(-1, keepdims=True) - r) / np.float64(n - 1)
        elif estimator in ("reinforce_baseline", "dr_grpo"):
            out = r - r.mean(-1, keepdims=True)
        elif estimator == "group_norm":
            std = (
                np.std(r, axis=-1, ddof=1, keepdims=True) if n > 1 else np.full((len(r), 1), np.nan)
            )
            out = (r - r.mean(-1, keepdims=True)) / (std + 1e-9)
        else:
            raise ValueError(estimator)
    return out.reshape(-1)


def openrlhf_whiten(adv, mask):
    """OpenRLHF's batch normalisation of advantages (plain variance, clamp)."""
    a = np.asarray(adv, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    n = m.sum()
    mean = (a * m).sum() / n
    var = (((a - mean) ** 2) * m).sum() / n
    return (a - mean) / np.sqrt(max(var, 1e-8))


def openrlhf_gae(values, rewards, action_mask, gamma, lambd):
    """OpenRLHF get_advantages_and_returns (unwhitened)."""
    v = np.asarray(values, dtype=np.float64) * action_mask
    r = np.asarray(rewards, dtype=np.float64) * action_mask
    T = r.shape[1]
    last = np.zeros(r.shape[0])
    rev = []
    for t in reversed(range(T)):
        nextv = v[:, t + 1] if t < T - 1 else 0.0
        delta = r[:, t] + gamma * nextv - v[:, t]
        last = delta + gamma * lambd * last
        rev.append(last)
    adv = np.stack(rev[::-1], axis=1)
    return adv, adv + v


def openrlhf_cumulative_returns(rewards, action_mask, gamma):
    r = np.asarray(rewards, dtype=np.float64) * action_mask
    out = np.zeros_like(r)
    run = np.zeros(r.shape[0])
    for t in reversed(range(r.shape[1])):
        run = r[:, t] + gamma * run
        out[:, t] = run
    return out


# ---------------------------------------------------------------------------
# vectorised numpy baselines (the benches compare against these)


def grpo_vectorized(rewards: np.ndarray, group_size: int, eps: float = 1e-6) -> np.ndarray:
    """GRPO for contiguous groups with reshape (what verl's vectorised variant does)."""
    g = rewards.reshape(-1, group_size)
    mean = g.mean(axis=1, keepdims=True)
    std = g.std(axis=1, ddof=1, keepdims=True)
    return ((g - mean) / (std + eps)).reshape(-1)


def grpo_vectorized_index(rewards: np.ndarray, index: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """GRPO for arbitrary ids with np.unique + bincount (verl's group_mean_std)."""
    _, inv = np.unique(index, return_inverse=True)
    cnt = np.bincount(inv).astype(rewards.dtype)
    mean = np.bincount(inv, weights=rewards) / cnt
    d = rewards - mean[inv]
    var = np.bincount(inv, weights=d * d) / np.maximum(cnt - 1, 1)
    return d / (np.sqrt(var)[inv] + eps)


def rloo_vectorized(rewards: np.ndarray, group_size: int) -> np.ndarray:
    g = rewards.reshape(-1, group_size)
    return (g - (g.sum(axis=1, keepdims=True) - g) / (group_size - 1)).reshape(-1)


def gae_vectorized(rewards, values, mask, gamma, lam):
    """GAE with the time loop vectorised over the batch (verl's loop in numpy)."""
    B, T = rewards.shape
    adv = np.empty_like(rewards)
    nextv = np.zeros(B, dtype=rewards.dtype)
    last = np.zeros(B, dtype=rewards.dtype)
    for t in range(T - 1, -1, -1):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * nextv - values[:, t]
        cand = delta + gamma * lam * last
        nextv = np.where(m, values[:, t], nextv)
        last = np.where(m, cand, last)
        adv[:, t] = last
    return adv
