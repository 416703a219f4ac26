"""Optimizers and the learning-rate schedule within a stage.

(The *stage* schedule, which stage runs when, is :mod:`postcouple.train.schedule`.)

- One AdamW per stage kind, built once per run and kept across the blocks of an
  alternating schedule (:func:`build_optimizers`).
- The learning rate of a stage instance: linear warmup over
  ``ceil(warmup_ratio * steps)`` steps, then constant, linear decay to 0 or a
  half cosine to 0 (TRL's ``lr_scheduler_type`` names) (:func:`lr_at`).
- :class:`OptimizerStep`: what ends every update: average gradients over ranks,
  clip by global norm (a non-finite norm stops the run), step, zero the grads.

Example:
    >>> from postcouple.train.optim import lr_at
    >>> [round(lr_at(s, 4, 1.0, "linear", 0.5), 2) for s in range(4)]
    [0.5, 1.0, 1.0, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from postcouple.train import distributed
from postcouple.train.config import LRSchedulerType, OptimConfig, RunConfig


def lr_at(step: int, total: int, base: float, kind: LRSchedulerType, warmup_ratio: float) -> float:
    """Learning rate at ``step`` (0-based) of a stage of ``total`` steps."""
    warm = int(math.ceil(warmup_ratio * total))
    if step < warm:
        return base * (step + 1) / warm
    if kind == "constant":
        return base
    frac = (step - warm) / max(1, total - warm)
    if kind == "linear":
        return base * (1.0 - frac)
    if kind == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"lr_scheduler_type: expected constant|linear|cosine, got {kind!r}")


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def check_finite(loss: torch.Tensor, what: str) -> None:
    """Stop the run (``FloatingPointError``) on a NaN/inf loss or gradient norm."""
    if not torch.isfinite(loss).all():
        raise FloatingPointError(
            f"{what} is {loss.item()}: training stopped; the last good checkpoint is kept"
        )


def stage_optim(cfg: RunConfig, kind: str) -> tuple[OptimConfig, float]:
    """The optimizer settings of a stage kind and its base learning rate.

    SFT uses ``cfg.sft``; RL, joint and the methods (chord, luffy, hpt, relift,
    uft) use ``cfg.rl``'s AdamW settings and lr schedule, each with its own
    section's learning rate (``cfg.joint.learning_rate``, ``cfg.chord...``).
    """
    oc: OptimConfig = cfg.sft if kind == "sft" else cfg.rl
    return oc, getattr(cfg, kind).learning_rate


def build_optimizers(
    model: Any, cfg: RunConfig, kinds: Iterable[str]
) -> dict[str, torch.optim.Optimizer]:
    """One AdamW per stage kind, in sorted order of kind."""
    opts: dict[str, torch.optim.Optimizer] = {}
    for kind in sorted(set(kinds)):
        oc, lr = stage_optim(cfg, kind)
        opts[kind] = torch.optim.AdamW(
            model.parameters(),
            lr=lr,
            betas=(oc.adam_beta1, oc.adam_beta2),
            weight_decay=oc.weight_decay,
        )
    return opts


class OptimizerStep:
    """Average gradients over ranks, clip, step, zero: called once per update.

    Built once per stage kind (the RL stage calls it once per mini-batch).
    Under FSDP gradients are already averaged (reduce-scattered in backward).
    """

    def __init__(
        self,
        model: Any,
        opt: torch.optim.Optimizer,
        max_grad_norm: float,
        dist: distributed.Dist,
        fsdp: bool = False,
    ) -> None:
        self.model, self.opt, self.max_grad_norm = model, opt, max_grad_norm
        self.dist, self.fsdp = dist, fsdp

    def __call__(self) -> None:
        if not self.fsdp:  # FSDP reduce-scatters (averages) in backward
            distributed.average_gradients(self.model, self.dist)
        if self.max_grad_norm > 0:
            gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
            gn = gn.full_tensor() if hasattr(gn, "full_tensor") else gn
            check_finite(gn, "gradient norm")
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
