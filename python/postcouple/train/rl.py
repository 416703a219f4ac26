"""RL stage: GRPO-family policy optimisation with verifiable rewards.

One step (see ../shared/DESIGN.md, "One RL step"):

1. take ``num_prompts`` prompts; sample ``num_generations`` completions each
   with HF ``generate`` (KV cache; temperature, top_p, no top-k);
2. score them: the task's verifier (Rust, ``postcouple.rewards`` for the real
   tasks) plus any extra reward functions with TRL's signature, weighted by
   ``reward_weights``;
3. advantages with ``postcouple.advantages.compute_advantages`` (Rust), the
   estimator chosen by name (``grpo``, ``dr_grpo``, ``rloo``, ...), token level
   (B, C);
4. record old log-probs at rollout time (only needed when the rollout is
   reused: ``num_iterations > 1`` or ``num_mini_batches > 1``; otherwise the
   ratio is exactly 1 and old = current, detached, as TRL does) and the
   reference log-probs when ``beta > 0``;
5. ``num_iterations`` epochs x ``num_mini_batches`` optimizer steps of the
   PPO-clip loss ``-min(rho A, clip(rho, 1 - epsilon, 1 + epsilon_high) A)``
   plus ``beta`` x KL(pi || ref) per token (k1 ``log pi/ref``, k2
   ``(log pi/ref)^2 / 2`` or k3 ``ref/pi - log(ref/pi) - 1``, Schulman's
   estimators), aggregated by ``loss_agg_mode`` (verl's names):
   ``token-mean`` (DAPO), ``seq-mean-token-mean`` (original GRPO),
   ``seq-mean-token-sum``, ``seq-mean-token-sum-norm`` (Dr. GRPO: divide by
   ``max_new_tokens``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.common import Rollout, check_finite, sample, sequence_logprobs

LOSS_AGG_MODES = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)
KL_ESTIMATORS = ("k1", "k2", "k3")


def validate(cfg: Any) -> None:
    from postcouple.advantages import ESTIMATORS

    if cfg.estimator not in ESTIMATORS:
        raise ValueError(f"rl.estimator: expected one of {ESTIMATORS}, got {cfg.estimator!r}")
    if cfg.loss_agg_mode not in LOSS_AGG_MODES:
        raise ValueError(
            f"rl.loss_agg_mode: expected one of {LOSS_AGG_MODES}, got {cfg.loss_agg_mode!r}"
        )
    if cfg.kl_estimator not in KL_ESTIMATORS:
        raise ValueError(f"rl.kl_estimator: expected one of {KL_ESTIMATORS}")
    for k in (
        "num_prompts",
        "num_generations",
        "max_new_tokens",
        "num_iterations",
        "num_mini_batches",
    ):
        if getattr(cfg, k) < 1:
            raise ValueError(f"rl.{k}: must be >= 1")
    if (cfg.num_prompts * cfg.num_generations) % cfg.num_mini_batches:
        raise ValueError("rl.num_mini_batches must divide num_prompts * num_generations")
    if cfg.temperature <= 0:
        raise ValueError("rl.temperature: must be > 0")


def kl_per_token(lp: torch.Tensor, ref_lp: torch.Tensor, kind: str) -> torch.Tensor:
    d = ref_lp - lp  # log(ref/pi)
    if kind == "k1":
        return -d
    if kind == "k2":
        return 0.5 * d * d
    return torch.exp(d) - d - 1.0  # k3: unbiased, >= 0


def aggregate(
    per_tok: torch.Tensor, mask: torch.Tensor, mode: str, max_new_tokens: int
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


def score(
    task: Any,
    completions: list[str],
    examples: list[Example],
    reward_funcs: Sequence[Callable] = (),
    weights: Sequence[float] = (),
) -> np.ndarray:
    """Task reward plus extra TRL-style reward functions, weighted; (B,) float32.

    ``None``/NaN from an extra function means "does not apply" (TRL): it is left
    out of that sample's weighted sum.
    """
    cols = [np.asarray(task.reward(completions, examples), dtype=np.float32)]
    for f in reward_funcs:
        vals = f(
            prompts=[e.prompt for e in examples],
            completions=completions,
            solution=[e.answer for e in examples],
        )
        cols.append(np.array([np.nan if v is None else v for v in vals], dtype=np.float32))
    w = list(weights) or [1.0] * len(cols)
    if len(w) != len(cols):
        raise ValueError(f"rl.reward_weights: {len(w)} weights for {len(cols)} reward functions")
    R = np.stack(cols, 1)  # (B, K)
    if R.shape[1] == 1:
        return R[:, 0] * np.float32(w[0])
    return np.nansum(R * np.asarray(w, dtype=np.float32), axis=1).astype(np.float32)


def rollout(
    model: Any,
    tok: Any,
    task: Any,
    examples: list[Example],
    cfg: Any,
    reward_funcs: Sequence[Callable] = (),
    kl_penalty: Callable[[Rollout], torch.Tensor] | None = None,
) -> tuple[Rollout, np.ndarray, torch.Tensor, dict[str, float]]:
    """Steps 1-3: samples, rewards (B,), token-level advantages (B, C), timings.

    ``kl_penalty(ro)`` (B,), when given, is subtracted from the rewards before
    the advantages (``use_kl_in_reward``); the returned rewards are the task's.
    """
    from postcouple.advantages import compute_advantages

    G = cfg.num_generations
    t0 = time.perf_counter()
    ro = sample(
        model,
        tok,
        [e.prompt for e in examples],
        num_generations=G,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
    )
    t1 = time.perf_counter()
    rep = [e for e in examples for _ in range(G)]  # (B,) row i is prompt i // G
    r = score(task, ro.completions, rep, reward_funcs, cfg.reward_weights)  # (B,)
    t2 = time.perf_counter()
    mask = ro.response_mask.cpu().numpy().astype(np.float32)  # (B, C)
    r_adv = r
    if kl_penalty is not None:
        r_adv = (r - kl_penalty(ro).float().cpu().numpy()).astype(np.float32)
    opts: dict[str, Any] = {}
    if cfg.estimator == "grpo":
        opts["scale"] = cfg.scale_rewards
    adv = compute_advantages(cfg.estimator, r_adv, mask, group_size=G, **opts)  # (B, C)
    t3 = time.perf_counter()
    adv_t = torch.from_numpy(np.ascontiguousarray(adv, dtype=np.float32)).to(ro.input_ids.device)
    grp = r.reshape(-1, G)
    stats = {
        "reward": float(np.nanmean(r)),
        "reward_std": float(np.nanstd(r)),
        "frac_reward_zero_std": float(np.mean(np.nanstd(grp, axis=1) == 0)),
        "completion_length": float(mask.sum(1).mean()),
        "time_generate": t1 - t0,
        "time_reward": t2 - t1,
        "time_advantage": t3 - t2,
    }
    return ro, r, adv_t, stats


def policy_loss(
    model: Any,
    ro: Rollout,
    adv: torch.Tensor,
    cfg: Any,
    rows: torch.Tensor | slice,
    old_lp: torch.Tensor | None,
    ref_lp: torch.Tensor | None,
    autocast: Any = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The PPO-clip (+ KL) loss of the rollout rows ``rows``; scalar, and stats."""
    sub = Rollout(
        ro.input_ids[rows], ro.attention_mask[rows], ro.response_mask[rows], ro.prompt_len, [], 0
    )
    with autocast or torch.autocast("cpu", enabled=False):
        lp, ent = sequence_logprobs(model, sub, with_entropy=True, packing=cfg.packing)  # (b, C)
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
    cfg: Any,
    opt_step: Callable[[], None],
    autocast: Any = None,
    reward_funcs: Sequence[Callable] = (),
    scale: float = 1.0,
    extra_backward: Callable[[], None] | None = None,
) -> dict[str, float]:
    """One RL step: rollout, then ``num_iterations`` x ``num_mini_batches`` updates.

    ``opt_step`` clips and steps the optimizer (and zeroes grads). ``scale``
    multiplies the RL loss and ``extra_backward`` adds more gradient before each
    update (the joint stage uses both).
    """
    old_lp = ref_lp = None
    in_reward = cfg.use_kl_in_reward and cfg.beta > 0 and ref_model is not None

    @torch.no_grad()
    def logprobs_at_rollout(ro: Rollout) -> torch.Tensor:
        nonlocal old_lp, ref_lp
        with autocast or torch.autocast("cpu", enabled=False):
            old_lp, _ = sequence_logprobs(model, ro, packing=cfg.packing)
            ref_lp, _ = sequence_logprobs(ref_model, ro, packing=cfg.packing)
        return cfg.beta * ((old_lp - ref_lp) * ro.response_mask).sum(1)  # (B,) k1 per sequence

    ro, r, adv, stats = rollout(
        model, tok, task, examples, cfg, reward_funcs, logprobs_at_rollout if in_reward else None
    )
    t0 = time.perf_counter()
    B = ro.input_ids.shape[0]
    reuse = cfg.num_iterations > 1 or cfg.num_mini_batches > 1
    with torch.no_grad():
        if reuse and old_lp is None:
            with autocast or torch.autocast("cpu", enabled=False):
                old_lp, _ = sequence_logprobs(model, ro, packing=cfg.packing)
        if cfg.beta > 0 and ref_model is not None and ref_lp is None:
            with autocast or torch.autocast("cpu", enabled=False):
                ref_lp, _ = sequence_logprobs(ref_model, ro, packing=cfg.packing)
    if in_reward:
        stats["kl"] = float(((old_lp - ref_lp) * ro.response_mask).sum(1).mean())
        ref_lp = None  # the KL is in the reward, not in the loss
    agg: dict[str, list[float]] = {}
    mb = B // cfg.num_mini_batches
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
    stats["time_train"] = time.perf_counter() - t0
    stats["tokens"] = ro.num_tokens
    return stats
