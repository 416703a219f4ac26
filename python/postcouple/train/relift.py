"""ReLIFT stage: RL, with SFT steps on the expert solutions of the hardest prompts.

Ma et al. 2025, "Learning What Reinforcement Learning Can't: Interleaved
Online Fine-Tuning for Hardest Questions" (ReLIFT, arXiv 2506.07527). Every
step is an RL step; the prompts none of whose K samples is correct (P = 0)
are the ones RL cannot learn from (an all-zero GRPO group has no gradient), so
their expert solutions go into a buffer; when the buffer holds M, one SFT step
(token-mean NLL) is taken on those M and they leave the buffer::

    every step:       theta <- theta - lr grad L_RL(rollout)
    P(x) = 0:         buffer <- buffer + [(x, y*(x))]
    |buffer| >= M:    theta <- theta - lr grad L_SFT(first M of buffer)

Choices:

- The RL step is the RL stage's step, unchanged
  (:func:`postcouple.train.rl.rl_step`; its ``[rl]`` settings); K =
  ``rl.num_generations``; correct means the task's verifier gives more than 0.5.
- y* is drawn when the prompt enters the buffer (``task.expert_solutions``);
  the buffer is part of the run's state and is saved in every checkpoint, so a
  resumed run takes its SFT steps at the same points.
- The SFT step uses the same optimizer (``[relift]``'s learning rate, the RL
  stage's clipping) and the SFT stage's micro-batching; it is an extra
  optimizer update inside the same schedule step (``sft_step`` = 1 in that
  step's metrics).
- M = ``relift.buffer_size``.
"""

from __future__ import annotations

import torch

from postcouple.tasks.base import Example
from postcouple.train.mixed import RecordingTask, StepInputs, expert_examples, num_correct
from postcouple.train.optim import check_finite
from postcouple.train.rl import rl_step
from postcouple.train.sft import sft_loss_backward, step_micro_batches


def relift_buffer_push(
    buffer: list[Example], hard: list[Example], size: int
) -> list[Example] | None:
    """Append ``hard`` (expert examples of prompts with 0 correct) to ``buffer``;
    when it then holds ``size`` or more, remove and return the first ``size``
    (the SFT batch), else return None. ``buffer`` is changed in place.

    Example:
        >>> buf = []
        >>> relift_buffer_push(buf, ["a", "b"], 3) is None, buf
        (True, ['a', 'b'])
        >>> relift_buffer_push(buf, ["c", "d"], 3), buf
        (['a', 'b', 'c'], ['d'])
    """
    buffer.extend(hard)
    if len(buffer) < size:
        return None
    batch = buffer[:size]
    del buffer[:size]
    return batch


def relift_step(x: StepInputs, prompts: list[Example]) -> dict[str, float]:
    """One ReLIFT step (see the module docstring)."""
    rc = x.cfg.rl
    rec = RecordingTask(x.task)
    st = rl_step(
        x.model, x.ref_model, x.tok, rec, prompts, rc, x.opt_step, x.autocast, x.reward_funcs
    )
    P = num_correct(rec.rewards(), rc.num_generations)  # (n,)
    hard = [e for e, p in zip(prompts, P) if p == 0]
    batch = relift_buffer_push(
        x.state.relift_buffer, expert_examples(x.task, hard, x.rng), x.cfg.relift.buffer_size
    )
    st["relift_added"] = len(hard)
    st["sft_step"] = 0
    ntok = 0
    if batch is not None:
        mbs = step_micro_batches(x.tok, batch, x.cfg.sft, x.device)
        loss, ntok = sft_loss_backward(x.model, mbs, autocast=x.autocast)
        check_finite(torch.tensor(loss), "ReLIFT SFT loss")
        x.opt_step()
        st["sft_step"] = 1
        st["sft_loss_train"] = loss
    st["relift_buffer"] = len(x.state.relift_buffer)
    st["expert_tokens_step"] = ntok
    return st
