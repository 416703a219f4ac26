"""CHORD stage: RL and a per-token-weighted SFT loss, mixed by a scheduled mu_t.

Zhang et al. 2025, "On-Policy RL Meets Off-Policy Experts: Harmonizing
Supervised Fine-Tuning and Reinforcement Learning via Dynamic Weighting"
(CHORD, arXiv 2508.11408). The loss of one step (the paper's hybrid loss with
the token-wise weighting of CHORD-phi)::

    L = (1 - mu_t) * L_RL + mu_t * L_SFT^phi
    L_SFT^phi = -(1/N) sum_t sg(phi(p_t)) log p_t,   phi(p) = p (1 - p),

where p_t = pi_theta(y*_t | x, y*_<t) on the N response tokens (and eos) of
an expert batch and sg is the stop-gradient. phi is largest at p = 1/2 and
vanishes for tokens the policy already predicts (p -> 1) and for tokens it
finds very unlikely (p -> 0), which would otherwise dominate the SFT gradient
and pull the policy away from its own distribution.

Choices:

- L_RL is the RL stage's loss on a fresh rollout (``[rl]``: GRPO by default),
  through :func:`postcouple.train.rl.rl_step`; the expert batch is separate
  from the rollouts: ``sft.batch_size`` examples of the task's expert data
  from the SFT data stream (the same draw as the ``joint`` stage).
- mu_t (``[chord]``): ``"constant"`` (mu_t = mu_peak) or ``"warmup_cosine"``:
  linear from 0 to mu_peak over the first ``ceil(mu_warmup_ratio T)`` steps,
  then a cosine from mu_peak down to mu_valley at the last of the T chord steps
  of the schedule (t counts chord steps over the whole schedule, so the blocks
  of an ``alt(...)`` share one schedule).
- ``phi = false`` gives the plain NLL: with ``mu_schedule = "constant"`` the
  step is then exactly the ``joint`` stage with ``joint.mu = chord.mu_peak``
  (tested to equal it bit for bit).
- The reported ``sft_loss_train`` is always the plain NLL of the expert batch;
  ``sft_loss_phi`` is the weighted loss that is descended.

Example:
    >>> from postcouple.train.chord import mu_at
    >>> from postcouple.train.config import ChordConfig
    >>> c = ChordConfig(mu_peak=0.5, mu_valley=0.1, mu_warmup_ratio=0.2)
    >>> [round(mu_at(c, t, 10), 3) for t in (0, 1, 2, 9)]
    [0.25, 0.5, 0.5, 0.1]
"""

from __future__ import annotations

import math
from typing import Any

from postcouple.tasks.base import Example
from postcouple.train.mixed import StepInputs, phi_weights, weighted_nll_backward
from postcouple.train.rl import rl_step
from postcouple.train.sft import sft_loss_backward, step_micro_batches


def mu_at(cfg: Any, t: int, total: int) -> float:
    """mu_t of a :class:`~postcouple.train.config.ChordConfig` at chord step ``t``
    (0-based) of ``total``."""
    if cfg.mu_schedule == "constant":
        return cfg.mu_peak
    warm = int(math.ceil(cfg.mu_warmup_ratio * total))
    if t < warm:
        return cfg.mu_peak * (t + 1) / warm
    frac = (t - warm) / max(1, total - warm - 1)  # 0 at the peak, 1 at the last step
    frac = min(frac, 1.0)
    return cfg.mu_valley + (cfg.mu_peak - cfg.mu_valley) * 0.5 * (1.0 + math.cos(math.pi * frac))


def chord_step(
    x: StepInputs, prompts: list[Example], sft_examples: list[Example]
) -> dict[str, float]:
    """One CHORD step: a rollout of ``prompts`` and the expert batch ``sft_examples``,
    one optimizer update per RL update (``rl.num_iterations x rl.num_mini_batches``;
    the same expert batch is added to each)."""
    cfg = x.cfg
    mu = mu_at(cfg.chord, *x.progress)
    mbs = step_micro_batches(x.tok, sft_examples, cfg.sft, x.device)
    plain: list[float] = []
    shaped: list[float] = []
    ntok = [0]

    def add_sft() -> None:
        if cfg.chord.phi:
            loss, wloss, n = weighted_nll_backward(
                x.model, mbs, phi_weights, scale=mu, autocast=x.autocast
            )
            shaped.append(wloss)
        else:
            loss, n = sft_loss_backward(x.model, mbs, scale=mu, autocast=x.autocast)
            shaped.append(loss)
        plain.append(loss)
        ntok[0] = n

    st = rl_step(
        x.model,
        x.ref_model,
        x.tok,
        x.task,
        prompts,
        cfg.rl,
        x.opt_step,
        x.autocast,
        x.reward_funcs,
        scale=1.0 - mu,
        extra_backward=add_sft,
    )
    st["rl_loss"] = st.pop("loss")
    st["sft_loss_train"] = sum(plain) / len(plain)
    st["sft_loss_phi"] = sum(shaped) / len(shaped)
    st["loss"] = (1 - mu) * st["rl_loss"] + mu * st["sft_loss_phi"]
    st["mu"] = mu
    st["expert_tokens_step"] = ntok[0]  # the expert batch, once per rollout
    return st
