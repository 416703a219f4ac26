"""LUFFY stage: expert solutions inside the GRPO groups, with policy shaping.

Yan et al. 2025, "Learning to Reason under Off-Policy Guidance" (LUFFY,
arXiv 2504.14945). Each prompt's group holds K on-policy samples (K =
``rl.num_generations``) and E expert solutions y* (E = ``luffy.num_expert``);
the advantages are taken over the whole group of K + E (the paper's
mixed-policy GRPO; by default without the std division,
``luffy.scale_rewards = "none"``, as LUFFY runs it). The loss (the paper's
policy-shaping objective, with the behaviour probability of the expert taken
as 1, as the paper does)::

    on-policy tokens:  -min(rho_t A, clip(rho_t, 1 - eps, 1 + eps_high) A),  rho_t = pi/pi_old
    expert tokens:     -A f(pi_theta(y*_t)),   f(p) = p / (p + gamma)          (no clipping)

and both are aggregated together by ``rl.loss_agg_mode`` (a token mean over
the on-policy and expert tokens of the batch by default). f's gradient,
``gamma p / (p + gamma)^2 grad log p``, keeps low-probability expert tokens
learnable where the plain ratio p would vanish (the paper's "policy shaping").

Choices:

- The expert solution is the task's (:func:`postcouple.train.mixed.expert_solutions`);
  it is scored by the same verifier as the samples (an expert may be wrong:
  arith's expert is, 20% of the time by default), so its advantage can be
  negative.
- ``rl.beta`` > 0 adds the KL to the reference on the on-policy tokens only
  (LUFFY runs without it); ``rl.use_kl_in_reward`` is not supported here.
- ``rl.num_iterations`` x ``rl.num_mini_batches`` updates per rollout as in the
  RL stage; the expert rows are split over the mini-batches in the same way.
- E = 0 is exactly the RL stage with the same estimator and
  ``rl.scale_rewards = luffy.scale_rewards`` (tested bit for bit).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.logprobs import sequence_logprobs
from postcouple.train.mixed import (
    StepInputs,
    expert_rollout,
    expert_solutions,
    shaped_expert_loss,
)
from postcouple.train.optim import check_finite
from postcouple.train.rl import aggregate, policy_loss, reward_stats
from postcouple.train.sampling import Rollout, rl_sampling, sample, score


def mixed_advantages(
    r_on: np.ndarray,
    mask_on: np.ndarray,
    r_exp: np.ndarray,
    mask_exp: np.ndarray,
    K: int,
    E: int,
    estimator: str,
    scale_rewards: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages over groups of K samples + E expert solutions per prompt.

    ``r_on`` (n K,), ``mask_on`` (n K, C); ``r_exp`` (n E,), ``mask_exp`` (n E, C_e).
    Returns token-level advantages ``(n K, C)`` and ``(n E, C_e)``. ``scale_rewards``
    applies to ``grpo`` (``"none"``: r - mean of the group); other estimators
    (``rloo``, ``dr_grpo``, ...) run on the K + E group as they are.

    Example:
        >>> import numpy as np
        >>> a_on, a_exp = mixed_advantages(
        ...     np.array([1.0, 0.0], np.float32), np.ones((2, 1), np.float32),
        ...     np.array([1.0], np.float32), np.ones((1, 1), np.float32),
        ...     K=2, E=1, estimator="grpo", scale_rewards="none")
        >>> [round(float(v), 3) for v in (*a_on[:, 0], *a_exp[:, 0])]
        [0.333, -0.667, 0.333]
    """
    from postcouple.advantages import compute_advantages

    n = len(r_on) // K
    C = max(mask_on.shape[1], mask_exp.shape[1] if E else 0)
    r = np.concatenate([r_on.reshape(n, K), r_exp.reshape(n, E)], 1).reshape(-1)  # (n (K+E),)
    m = np.zeros((n, K + E, C), dtype=np.float32)
    m[:, :K, : mask_on.shape[1]] = mask_on.reshape(n, K, -1)
    if E:
        m[:, K:, : mask_exp.shape[1]] = mask_exp.reshape(n, E, -1)
    opts: dict[str, Any] = {"scale": scale_rewards} if estimator == "grpo" else {}
    m = m.reshape(n * (K + E), C)
    adv = compute_advantages(estimator, r.astype(np.float32), m, group_size=K + E, **opts)
    adv = adv.reshape(n, K + E, C)
    a_on = adv[:, :K, : mask_on.shape[1]].reshape(n * K, mask_on.shape[1])
    a_exp = adv[:, K:, : mask_exp.shape[1]].reshape(n * E, mask_exp.shape[1])
    return np.ascontiguousarray(a_on), np.ascontiguousarray(a_exp)


def luffy_step(x: StepInputs, prompts: list[Example]) -> dict[str, float]:
    """One LUFFY step: K samples + E expert solutions per prompt, then
    ``num_iterations x num_mini_batches`` updates (see the module docstring)."""
    rc, lc = x.cfg.rl, x.cfg.luffy
    if rc.use_kl_in_reward:
        raise ValueError("luffy: rl.use_kl_in_reward is not supported (use rl.beta as a loss term)")
    K, E = rc.num_generations, lc.num_expert
    model, dev = x.model, x.device

    # -- rollout: K on-policy samples per prompt (as the RL stage draws them) -----
    t0 = time.perf_counter()
    ro = sample(model, x.tok, [e.prompt for e in prompts], **rl_sampling(rc))  # K per prompt
    t1 = time.perf_counter()
    rep = [e for e in prompts for _ in range(K)]  # row i is prompt i // K
    r_on = score(x.task, ro.completions, rep, x.reward_funcs, rc.reward_weights)  # (n K,)
    mask_on = ro.response_mask.cpu().numpy().astype(np.float32)  # (n K, C)

    # -- E expert solutions per prompt, scored by the same verifier ---------------
    ero = None
    r_exp = np.zeros(0, dtype=np.float32)
    mask_exp = np.zeros((0, 1), dtype=np.float32)
    if E:
        erep = [e for e in prompts for _ in range(E)]  # row i is prompt i // E
        sols = expert_solutions(x.task, erep, x.rng)
        ero = expert_rollout(x.tok, [e.prompt for e in erep], sols, dev)
        r_exp = score(x.task, sols, erep, x.reward_funcs, rc.reward_weights)  # (n E,)
        mask_exp = ero.response_mask.cpu().numpy().astype(np.float32)  # (n E, C_e)
    a_on, a_exp = mixed_advantages(
        r_on, mask_on, r_exp, mask_exp, K, E, rc.estimator, lc.scale_rewards
    )
    adv_on = torch.from_numpy(a_on).to(dev)  # (n K, C)
    adv_exp = torch.from_numpy(a_exp).to(dev)  # (n E, C_e)
    t2 = time.perf_counter()

    # -- old / reference log-probs of the on-policy rows (as the RL stage) ---------
    B, Be = ro.input_ids.shape[0], (ero.input_ids.shape[0] if ero is not None else 0)
    nmb = rc.num_mini_batches
    if Be % nmb:
        raise ValueError("luffy: rl.num_mini_batches must divide num_prompts * luffy.num_expert")
    old_lp = ref_lp = None
    with torch.no_grad(), x.autocast or torch.autocast("cpu", enabled=False):
        if rc.num_iterations > 1 or nmb > 1:
            old_lp, _ = sequence_logprobs(model, ro, packing=rc.packing)
        if rc.beta > 0 and x.ref_model is not None:
            ref_lp, _ = sequence_logprobs(x.ref_model, ro, packing=rc.packing)

    # -- updates ----------------------------------------------------------------
    agg: dict[str, list[float]] = {}
    mb, mbe = B // nmb, Be // nmb
    for _ in range(rc.num_iterations):
        perm = torch.randperm(B) if nmb > 1 else torch.arange(B)
        eperm = (torch.randperm(Be) if nmb > 1 else torch.arange(Be)) if Be else None
        for k in range(nmb):
            rows = perm[k * mb : (k + 1) * mb].to(dev)
            loss, st = policy_loss(model, ro, adv_on, rc, rows, old_lp, ref_lp, x.autocast)
            if eperm is not None:
                erows = eperm[k * mbe : (k + 1) * mbe].to(dev)
                loss, est = _add_expert(x, ro, ero, adv_exp, rows, erows, loss)
                st.update(est)
            check_finite(loss, "LUFFY loss")
            loss.backward()
            x.opt_step()
            st["loss"] = float(loss.detach())
            for key, v in st.items():
                agg.setdefault(key, []).append(v)

    stats: dict[str, float] = {
        **reward_stats(r_on, mask_on, K),
        "time_generate": t1 - t0,
        "time_reward": t2 - t1,
        **{k: float(np.mean(v)) for k, v in agg.items()},
        "time_train": time.perf_counter() - t2,
        "tokens": ro.num_tokens,
        "expert_tokens_step": ero.num_tokens if ero is not None else 0,
    }
    if E:
        stats["expert_reward"] = float(np.nanmean(r_exp))
        stats["expert_advantage"] = float(a_exp[:, 0].mean())
    return stats


def _add_expert(
    x: StepInputs,
    ro: Any,
    ero: Any,
    adv_exp: torch.Tensor,
    rows: torch.Tensor,
    erows: torch.Tensor,
    loss_on: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The mini-batch loss over on-policy rows ``rows`` and expert rows ``erows``:
    both per-token losses aggregated together by ``rl.loss_agg_mode``.

    ``policy_loss`` already returns the on-policy part aggregated on its own; every
    mode is a sum divided by a count (tokens for ``token-mean``, sequences
    otherwise), so the joint aggregate is the count-weighted mean of the two parts.
    """
    rc, lc = x.cfg.rl, x.cfg.luffy
    sub = Rollout(
        ero.input_ids[erows],
        ero.attention_mask[erows],
        ero.response_mask[erows],
        ero.prompt_len,
        [],
        0,
    )
    with x.autocast or torch.autocast("cpu", enabled=False):
        lp, _ = sequence_logprobs(x.model, sub, packing=rc.packing)  # (b_e, C_e)
    emask = sub.response_mask.float()
    per_tok = shaped_expert_loss(lp, adv_exp[erows], lc.gamma)  # (b_e, C_e)
    loss_exp = aggregate(per_tok, emask, rc.loss_agg_mode, rc.max_new_tokens)
    if rc.loss_agg_mode == "token-mean":
        n_on, n_exp = float(ro.response_mask[rows].sum()), float(emask.sum())
    else:
        n_on, n_exp = float(len(rows)), float(len(erows))
    w = n_on / max(n_on + n_exp, 1.0)
    denom = emask.sum().clamp(min=1)
    p = lp.detach().exp()
    stats = {
        "expert_prob": float((p * emask).sum() / denom),
        "loss_expert": float(loss_exp.detach()),
    }
    return w * loss_on + (1.0 - w) * loss_exp, stats
