"""HPT stage: per prompt, SFT when the policy cannot solve it, RL when it can.

Lv et al. 2025, "Towards a Unified View of Large Language Model Post-Training"
(Hybrid Post-Training, HPT, arXiv 2509.04419): for each prompt x, sample K
completions and count the correct ones, P. Then (the paper's per-question switch)::

    L(x) = L_RL(x; samples)     if P > gamma
    L(x) = L_SFT(x; y*)         if P <= gamma

SuperRL (Liu et al. 2025, arXiv 2506.01096) is the case gamma = 0: SFT only
on prompts where every sample fails (whose GRPO group has no gradient anyway).

Choices:

- K = ``rl.num_generations``; a sample is correct when the task's verifier
  gives it more than 0.5 (:func:`postcouple.train.mixed.num_correct`; extra
  reward functions do not count).
- Both parts go into one optimizer step, each prompt weighing the same:
  ``L = (n_RL / n) L_RL + (n_SFT / n) L_SFT``, where L_RL is the RL stage's
  loss (``rl.loss_agg_mode``, PPO-clip, optional KL) on the samples of the
  n_RL RL prompts, with the advantages of their own groups, and L_SFT the
  token-mean NLL of the expert solutions of the n_SFT SFT prompts
  (``task.expert_solutions``; through the SFT stage's micro-batching).
- One update per rollout (``rl.num_iterations = rl.num_mini_batches = 1``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.logprobs import sequence_logprobs
from postcouple.train.mixed import RecordingTask, StepInputs, expert_examples, num_correct
from postcouple.train.optim import check_finite
from postcouple.train.rl import policy_loss, rollout
from postcouple.train.sft import sft_loss_backward, step_micro_batches


def hpt_switch(correct: np.ndarray, gamma: int) -> np.ndarray:
    """Which prompts take the SFT loss: ``P <= gamma``, (n,) bool."""
    return np.asarray(correct) <= gamma


def _check_single_update(cfg: object, kind: str) -> None:
    if cfg.num_iterations != 1 or cfg.num_mini_batches != 1:  # type: ignore[attr-defined]
        raise ValueError(
            f"{kind}: one update per rollout; set rl.num_iterations = rl.num_mini_batches = 1"
        )


def hpt_step(x: StepInputs, prompts: list[Example]) -> dict[str, float]:
    """One HPT step (see the module docstring)."""
    rc = x.cfg.rl
    _check_single_update(rc, "hpt")
    if rc.use_kl_in_reward:
        raise ValueError("hpt: rl.use_kl_in_reward is not supported (use rl.beta as a loss term)")
    K = rc.num_generations
    rec = RecordingTask(x.task)
    ro, r, adv, stats = rollout(x.model, x.tok, rec, prompts, rc, x.reward_funcs)
    P = num_correct(rec.rewards(), K)  # (n,)
    to_sft = hpt_switch(P, x.cfg.hpt.gamma)  # (n,)
    n, n_sft = len(prompts), int(to_sft.sum())
    n_rl = n - n_sft
    t0 = time.perf_counter()

    # -- RL on the prompts the policy solves more than gamma times --------------------
    rl_loss = 0.0
    if n_rl:
        rows = torch.from_numpy(np.repeat(~to_sft, K).nonzero()[0]).to(ro.input_ids.device)
        ref_lp = None
        if rc.beta > 0 and x.ref_model is not None:
            with torch.no_grad(), x.autocast or torch.autocast("cpu", enabled=False):
                ref_lp, _ = sequence_logprobs(x.ref_model, ro, packing=rc.packing)
        loss, st = policy_loss(x.model, ro, adv, rc, rows, None, ref_lp, x.autocast)
        check_finite(loss, "HPT RL loss")
        (loss * (n_rl / n)).backward()
        rl_loss = float(loss.detach())
        stats.update(st)

    # -- SFT on the expert solutions of the others ---------------------------------------
    sft_loss, ntok = 0.0, 0
    if n_sft:
        chosen = [e for e, s in zip(prompts, to_sft) if s]
        mbs = step_micro_batches(x.tok, expert_examples(x.task, chosen, x.rng), x.cfg.sft, x.device)
        sft_loss, ntok = sft_loss_backward(x.model, mbs, scale=n_sft / n, autocast=x.autocast)
        check_finite(torch.tensor(sft_loss), "HPT SFT loss")
    x.opt_step()

    stats.update(
        {
            "loss": (n_rl * rl_loss + n_sft * sft_loss) / n,
            "rl_loss": rl_loss,
            "sft_loss_train": sft_loss,
            "frac_sft": n_sft / n,
            "num_correct": float(P.mean()),
            "time_train": time.perf_counter() - t0,
            "tokens": ro.num_tokens,
            "expert_tokens_step": ntok,
        }
    )
    return stats
