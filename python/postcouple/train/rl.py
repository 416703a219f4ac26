"""RL stage: GRPO-family policy optimisation with verifiable rewards.

One step, as :func:`rl_step` reads (see ARCHITECTURE.md, "One RL step"):

1. sample and score: ``num_generations`` completions for each of
   ``num_prompts`` prompts with HF ``generate`` (KV cache; temperature,
   ``top_p``, no top-k), scored by the task's verifier (Rust,
   ``postcouple.rewards`` for the real tasks) plus any extra reward functions
   with TRL's signature, weighted by ``reward_weights``
   (:func:`postcouple.train.sampling.sample_and_score`);
2. log-probs at rollout time, only when needed: the policy's ("old") when the
   rollout is reused (``num_iterations > 1`` or ``num_mini_batches > 1``;
   otherwise the ratio is exactly 1 and old = current, detached, as TRL does)
   or the KL goes into the reward; the reference's when ``beta > 0``;
3. reward with KL (verl's ``use_kl_in_reward``): subtract
   ``beta * sum_t log(pi/ref)`` (k1) from each sequence's reward;
4. advantages with ``postcouple.advantages.compute_advantages`` (Rust), the
   estimator chosen by name (``grpo``, ``dr_grpo``, ``rloo``, ...), token level
   (B, C);
5. ``num_iterations`` epochs x ``num_mini_batches`` optimizer steps of the
   PPO-clip loss ``-min(rho A, clip(rho, 1 - epsilon, 1 + epsilon_high) A)``
   plus ``beta`` x KL(pi || ref) per token unless it is in the reward (k1
   ``log pi/ref``, k2 ``(log pi/ref)^2 / 2`` or k3 ``ref/pi - log(ref/pi) - 1``,
   Schulman's estimators), aggregated by ``loss_agg_mode`` (verl's names):
   ``token-mean`` (DAPO), ``seq-mean-token-mean`` (original GRPO),
   ``seq-mean-token-sum``, ``seq-mean-token-sum-norm`` (Dr. GRPO: divide by
   ``max_new_tokens``).

The reference model is the policy as it was when the run started (after
``init_from``).
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.config import KLEstimator, LossAggMode, RLConfig
from postcouple.train.logprobs import sequence_logprobs
from postcouple.train.optim import check_finite
from postcouple.train.sampling import Rollout, rl_sampling, sample_and_score, score

LOSS_AGG_MODES: tuple[str, ...] = typing.get_args(LossAggMode)
KL_ESTIMATORS: tuple[str, ...] = typing.get_args(KLEstimator)

__all__ = [
    "KL_ESTIMATORS",
    "LOSS_AGG_MODES",
    "advantages",
    "aggregate",
    "kl_per_token",
    "policy_loss",
    "reward_stats",
    "rl_step",
    "rollout",
    "score",
    "validate",
]


def validate(cfg: RLConfig) -> None:
    """Check an RL config (its fields may have been set after construction)."""
    cfg.validate()


def kl_per_token(lp: torch.Tensor, ref_lp: torch.Tensor, kind: KLEstimator) -> torch.Tensor:
    """KL(pi || ref) estimate per token from log-probs (B, C) of the sampled tokens."""
    d = ref_lp - lp  # log(ref/pi)
    if kind == "k1":
        return -d
    if kind == "k2":
        return 0.5 * d * d
    return torch.exp(d) - d - 1.0  # k3: unbiased, >= 0


def aggregate(
    per_tok: torch.Tensor, mask: torch.Tensor, mode: LossAggMode, max_new_tokens: int
) -> torch.Tensor:
    """Reduce a (B, C) per-token loss to a scalar (verl's ``agg_loss`` modes)."""
    if mode == "token-mean":
        return (per_tok * mask).sum() / mask.sum().clamp(min=1)
    seq_sum = (per_tok * mask).sum(1)  # (B,)
    if mode == "seq-mean-token-mean":
        return (seq_sum / mask.sum(1).clamp(min=1)).mean()
    if mode == "seq-mean-token-sum":
        return seq_sum.mean()
    return seq_sum.sum() / (mask.shape[0] * max_new_tokens)  # seq-mean-token-sum-norm


def advantages(r: np.ndarray, mask: np.ndarray, cfg: RLConfig) -> np.ndarray:
    """Token-level advantages (B, C) float32 of rewards (B,) under ``cfg.estimator``."""
    from postcouple.advantages import compute_advantages

    opts: dict[str, Any] = {}
    if cfg.estimator == "grpo":
        opts["scale"] = cfg.scale_rewards
    adv = compute_advantages(cfg.estimator, r, mask, group_size=cfg.num_generations, **opts)
    return np.ascontiguousarray(adv, dtype=np.float32)


def reward_stats(r: np.ndarray, mask: np.ndarray, group_size: int) -> dict[str, float]:
    """Reward mean/std, the fraction of groups with equal rewards, completion length."""
    grp = r.reshape(-1, group_size)
    return {
        "reward": float(np.nanmean(r)),
        "reward_std": float(np.nanstd(r)),
        "frac_reward_zero_std": float(np.mean(np.nanstd(grp, axis=1) == 0)),
        "completion_length": float(mask.sum(1).mean()),
    }


def _sample(
    model: Any,
    tok: Any,
    task: Any,
    examples: list[Example],
    cfg: RLConfig,
    reward_funcs: Sequence[Callable],
) -> tuple[Rollout, np.ndarray, np.ndarray, dict[str, float]]:
    """:func:`sample_and_score` under ``cfg``, plus the response mask as float32.

    Returns the rollout (B = len(examples) * G rows), rewards (B,), mask (B, C)
    and the timings.
    """
    ro, r, times = sample_and_score(
        model,
        tok,
        task,
        examples,
        **rl_sampling(cfg),
        reward_funcs=reward_funcs,
        reward_weights=cfg.reward_weights,
    )
    mask = ro.response_mask.cpu().numpy().astype(np.float32)  # (B, C)
    return ro, r, mask, times


def rollout(
    model: Any,
    tok: Any,
    task: Any,
    examples: list[Example],
    cfg: RLConfig,
    reward_funcs: Sequence[Callable] = (),
) -> tuple[Rollout, np.ndarray, torch.Tensor, dict[str, float]]:
    """Samples, rewards (B,), token-level advantages (B, C) and their stats.

    :func:`rl_step` without the update (and without KL in the reward).
    """
    ro, r, mask, stats = _sample(model, tok, task, examples, cfg, reward_funcs)
    adv = torch.from_numpy(advantages(r, mask, cfg)).to(ro.input_ids.device)  # (B, C)
    return ro, r, adv, {**reward_stats(r, mask, cfg.num_generations), **stats}


def policy_loss(
    model: Any,
    ro: Rollout,
    adv: torch.Tensor,
    cfg: RLConfig,
    rows: torch.Tensor | slice,
    old_lp: torch.Tensor | None,
    ref_lp: torch.Tensor | None,
    autocast: Any = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The PPO-clip (+ KL) loss of the rollout rows ``rows``; scalar, and stats."""
    sub = Rollout(
        ro.input_ids[rows], ro.attention_mask[rows], ro.response_mask[rows], ro.prompt_len, [], 0
    )
    with autocast or nullcontext():
        lp, ent = sequence_logprobs(model, sub, with_entropy=True, packing=cfg.packing)  # (b, C)
    assert ent is not None  # with_entropy=True
    mask = sub.response_mask.float()
    a = adv[rows]
    old = lp.detach() if old_lp is None else old_lp[rows]
    ratio = torch.exp(lp - old)
    hi = cfg.epsilon if cfg.epsilon_high is None else cfg.epsilon_high
    clipped = torch.clamp(ratio, 1.0 - cfg.epsilon, 1.0 + hi)
    per_tok = -torch.minimum(ratio * a, clipped * a)
    kl = None
    if ref_lp is not None and cfg.beta > 0:
        kl = kl_per_token(lp, ref_lp[rows], cfg.kl_estimator)
        per_tok = per_tok + cfg.beta * kl
    loss = aggregate(per_tok, mask, cfg.loss_agg_mode, cfg.max_new_tokens)
    denom = mask.sum().clamp(min=1)
    stats = {
        "clip_frac": float((((ratio - clipped).abs() > 0).float() * mask).sum() / denom),
        "entropy": float((ent * mask).sum() / denom),
    }
    if kl is not None:
        stats["kl"] = float((kl.detach() * mask).sum() / denom)
    return loss, stats


def rl_step(
    model: Any,
    ref_model: Any,
    tok: Any,
    task: Any,
    examples: list[Example],
    cfg: RLConfig,
    opt_step: Callable[[], None],
    autocast: Any = None,
    reward_funcs: Sequence[Callable] = (),
    scale: float = 1.0,
    extra_backward: Callable[[], None] | None = None,
) -> dict[str, float]:
    """One RL step on ``examples`` (this rank's prompts); returns its metrics.

    ``opt_step`` clips and steps the optimizer (and zeroes grads). ``scale``
    multiplies the RL loss and ``extra_backward`` adds more gradient before each
    update (the joint stage uses both).
    """
    amp = autocast or nullcontext()
    kl_in_reward = cfg.use_kl_in_reward and cfg.beta > 0 and ref_model is not None
    reuse = cfg.num_iterations > 1 or cfg.num_mini_batches > 1

    # 1. sample and score
    ro, r, mask, times = _sample(model, tok, task, examples, cfg, reward_funcs)
    stats = {**reward_stats(r, mask, cfg.num_generations), **times}

    # 2. log-probs at rollout time: the policy's when the rollout is reused or the
    #    KL goes into the reward, the reference's when there is a KL at all
    t0 = time.perf_counter()
    old_lp = ref_lp = None  # (B, C)
    with torch.no_grad(), amp:
        if reuse or kl_in_reward:
            old_lp, _ = sequence_logprobs(model, ro, packing=cfg.packing)
        if cfg.beta > 0 and ref_model is not None:
            ref_lp, _ = sequence_logprobs(ref_model, ro, packing=cfg.packing)
    t1 = time.perf_counter()

    # 3. reward with KL: r - beta * sum_t log(pi/ref) (k1 per sequence)
    r_adv = r
    if kl_in_reward:
        assert old_lp is not None and ref_lp is not None
        kl_seq = ((old_lp - ref_lp) * ro.response_mask).sum(1)  # (B,)
        r_adv = (r - (cfg.beta * kl_seq).float().cpu().numpy()).astype(np.float32)

    # 4. advantages (B, C)
    adv = torch.from_numpy(advantages(r_adv, mask, cfg)).to(ro.input_ids.device)
    stats["time_advantage"] = time.perf_counter() - t1
    if kl_in_reward:
        stats["kl"] = float(kl_seq.mean())
        ref_lp = None  # the KL is in the reward, not in the loss

    # 5. update: num_iterations epochs x num_mini_batches optimizer steps
    t2 = time.perf_counter()
    B = ro.input_ids.shape[0]
    mb = B // cfg.num_mini_batches
    agg: dict[str, list[float]] = {}
    for _ in range(cfg.num_iterations):
        perm = torch.randperm(B) if cfg.num_mini_batches > 1 else torch.arange(B)
        for k in range(cfg.num_mini_batches):
            rows = perm[k * mb : (k + 1) * mb].to(ro.input_ids.device)
            loss, st = policy_loss(model, ro, adv, cfg, rows, old_lp, ref_lp, autocast)
            check_finite(loss, "RL loss")
            (loss * scale).backward()
            if extra_backward is not None:
                extra_backward()
            opt_step()
            st["loss"] = float(loss.detach())
            for key, v in st.items():
                agg.setdefault(key, []).append(v)
    stats.update({k: float(np.mean(v)) for k, v in agg.items()})
    stats["time_logprobs"] = t1 - t0
    stats["time_train"] = time.perf_counter() - t2
    stats["tokens"] = ro.num_tokens
    return stats
