"""Joint stage: one loss ``(1 - mu) * L_RL + mu * L_SFT`` per optimizer step.

The CHORD-style mix (Zhang et al. 2025, "On-Policy RL Meets Off-Policy
Experts") that TRL and verl users ask for: each step draws an RL rollout (the
RL stage's settings) and an SFT batch (the SFT stage's batch size), and
descends their weighted sum with one AdamW (``joint.learning_rate``). ``mu = 0``
is pure RL, ``mu = 1`` pure SFT. With several RL updates per rollout the same
SFT batch is added to each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from postcouple.tasks.base import Example
from postcouple.train.config import RunConfig
from postcouple.train.rl import rl_step
from postcouple.train.sft import sft_loss_backward, step_micro_batches


def joint_step(
    model: Any,
    ref_model: Any,
    tok: Any,
    task: Any,
    prompts: list[Example],
    sft_examples: Sequence[Example],
    cfg: RunConfig,
    opt_step: Callable[[], None],
    device: Any,
    autocast: Any = None,
    reward_funcs: Sequence[Callable] = (),
) -> dict[str, float]:
    """One joint step; ``cfg`` is the whole run config (``joint.mu``, ``rl``, ``sft``)."""
    mu = cfg.joint.mu  # in [0, 1] (JointConfig.validate)
    mbs = step_micro_batches(tok, sft_examples, cfg.sft, device)
    sft_losses: list[float] = []
    sft_tokens: list[int] = []

    def add_sft() -> None:
        loss, ntok = sft_loss_backward(model, mbs, scale=mu, autocast=autocast)
        sft_losses.append(loss)
        sft_tokens.append(ntok)

    st = rl_step(
        model,
        ref_model,
        tok,
        task,
        prompts,
        cfg.rl,
        opt_step,
        autocast,
        reward_funcs,
        scale=1.0 - mu,
        extra_backward=add_sft,
    )
    st["rl_loss"] = st.pop("loss")
    st["sft_loss_train"] = sum(sft_losses) / len(sft_losses)
    # the one expert batch, reused by every update (the engine keeps the running total)
    st["expert_tokens_step"] = sft_tokens[0]
    st["loss"] = (1 - mu) * st["rl_loss"] + mu * st["sft_loss_train"]
    return st
