"""Compatibility re-exports: the pieces that lived here now have their own modules.

- text -> ids, data order: :mod:`postcouple.train.data`
- sampling and scoring: :mod:`postcouple.train.sampling`
- log-probs: :mod:`postcouple.train.logprobs`
- learning rate, optimizer step, finite checks: :mod:`postcouple.train.optim`

Import from those; this module goes once nothing imports it.
"""

from postcouple.train.data import (
    EpochSampler,
    encode_examples,
    encode_prompts,
    pad_right,
    render_prompt,
)
from postcouple.train.logprobs import sequence_logprobs, shifted_nll, token_entropy, token_logprobs
from postcouple.train.optim import check_finite, lr_at, set_lr
from postcouple.train.sampling import Rollout, sample

__all__ = [
    "EpochSampler",
    "Rollout",
    "check_finite",
    "encode_examples",
    "encode_prompts",
    "lr_at",
    "pad_right",
    "render_prompt",
    "sample",
    "sequence_logprobs",
    "set_lr",
    "shifted_nll",
    "token_entropy",
    "token_logprobs",
]
