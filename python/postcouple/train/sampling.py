"""Sampling completions and scoring them: the first two lines of every RL step.

:func:`sample_and_score` is what both the RL stages and the evaluation call,
so a sampling option (temperature, ``top_p``, greedy) means the same thing
wherever it is set.

Example:
    >>> from postcouple.train.sampling import sample_and_score
    >>> ro, r, times = sample_and_score(  # doctest: +SKIP
    ...     model, tok, task, examples, num_generations=8, max_new_tokens=16, top_p=0.9
    ... )
    >>> r.shape == (len(examples) * 8,)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.data import encode_prompts

if TYPE_CHECKING:
    from typing_extensions import NotRequired, Unpack  # in typing from Python 3.11


@dataclass
class Rollout:
    """G samples per prompt, flattened: row i is prompt i // G."""

    input_ids: torch.Tensor  # (B, P+C) left-padded prompt + completion (pad after eos)
    attention_mask: torch.Tensor  # (B, P+C)
    response_mask: torch.Tensor  # (B, C) 1 on completion tokens up to and including eos
    prompt_len: int  # P
    completions: list[str]  # (B,)
    num_tokens: int  # generated tokens that count (sum of response_mask)


@torch.no_grad()
def sample(
    model: Any,
    tok: Any,
    prompts: Sequence[str],
    *,
    num_generations: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> Rollout:
    """Sample ``num_generations`` completions per prompt with HF ``generate`` (KV cache)."""
    device = next(model.parameters()).device
    enc = encode_prompts(tok, prompts)
    P = max(len(e) for e in enc)
    ids = torch.full((len(enc), P), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(enc), P), dtype=torch.long)
    for i, e in enumerate(enc):  # left padding
        ids[i, P - len(e) :] = torch.tensor(e)
        att[i, P - len(e) :] = 1
    ids = ids.repeat_interleave(num_generations, 0).to(device)  # (B, P)
    att = att.repeat_interleave(num_generations, 0).to(device)
    was_training = model.training
    model.eval()
    kw: dict[str, Any] = dict(
        do_sample=not greedy,
        max_new_tokens=max_new_tokens,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    if not greedy:
        # top_k=0: no top-k truncation (HF's default 50 would silently cut the distribution)
        kw.update(temperature=temperature, top_p=top_p, top_k=0)
    else:
        kw.update(temperature=None, top_p=None, top_k=None)
    if getattr(model, "_postcouple_fsdp", False):
        # FSDP2: every forward is a collective, so ranks generate in lockstep
        # until all of them are done (HF's synced_gpus, as for ZeRO-3)
        kw["synced_gpus"] = True
    out = model.generate(input_ids=ids, attention_mask=att, **kw)
    model.train(was_training)
    comp = out[:, P:]  # (B, C)
    C = comp.shape[1]
    is_eos = comp == tok.eos_token_id
    # positions up to and including the first eos
    first = torch.where(
        is_eos.any(1), is_eos.float().argmax(1), torch.full_like(is_eos[:, 0], C, dtype=torch.long)
    )
    pos = torch.arange(C, device=comp.device).unsqueeze(0)
    rmask = (pos <= first.unsqueeze(1)).long()  # (B, C)
    comp = torch.where(rmask.bool(), comp, torch.full_like(comp, tok.pad_token_id))
    texts = tok.batch_decode(comp.masked_fill(is_eos, tok.pad_token_id), skip_special_tokens=True)
    full = torch.cat([ids, comp], 1)
    full_att = torch.cat([att, rmask], 1)
    return Rollout(full, full_att, rmask, P, texts, int(rmask.sum()))


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


class SamplingKwargs(TypedDict):
    """The sampling keywords of :func:`sample`, as :func:`sample_and_score` and
    :func:`rl_sampling` pass them on."""

    num_generations: int
    max_new_tokens: int
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    greedy: NotRequired[bool]


def rl_sampling(rc: Any) -> SamplingKwargs:
    """The keywords of :func:`sample` (and :func:`sample_and_score`) as an RL stage
    draws: ``rc`` (an ``RLConfig``) gives the group size, ``max_new_tokens``,
    ``temperature`` and ``top_p``.

    Example:
        >>> ro = sample(model, tok, ["1+1="], **rl_sampling(cfg.rl))  # doctest: +SKIP
    """
    return {
        "num_generations": rc.num_generations,
        "max_new_tokens": rc.max_new_tokens,
        "temperature": rc.temperature,
        "top_p": rc.top_p,
    }


def sample_and_score(
    model: Any,
    tok: Any,
    task: Any,
    examples: Sequence[Example],
    *,
    reward_funcs: Sequence[Callable] = (),
    reward_weights: Sequence[float] = (),
    **sampling: Unpack[SamplingKwargs],
) -> tuple[Rollout, np.ndarray, dict[str, float]]:
    """``num_generations`` samples of each example's prompt, and their rewards.

    ``sampling`` are the keywords of :func:`sample` (``num_generations``,
    ``max_new_tokens``, ``temperature``, ``top_p``, ``greedy``), passed on as
    they are. Returns the :class:`Rollout` (B = len(examples) * num_generations
    rows; row i answers ``examples[i // num_generations]``), the rewards (B,)
    float32 (:func:`score`: the task's verifier plus ``reward_funcs`` weighted
    by ``reward_weights``) and the seconds spent (``time_generate``,
    ``time_reward``).
    """
    t0 = time.perf_counter()
    ro = sample(model, tok, [e.prompt for e in examples], **sampling)
    t1 = time.perf_counter()
    G = sampling["num_generations"]
    rep = [e for e in examples for _ in range(G)]  # (B,) row i is prompt i // G
    r = score(task, ro.completions, rep, reward_funcs, reward_weights)  # (B,)
    t2 = time.perf_counter()
    return ro, r, {"time_generate": t1 - t0, "time_reward": t2 - t1}
