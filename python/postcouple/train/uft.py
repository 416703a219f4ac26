"""UFT stage: RL from prompts prefixed with a shrinking part of the expert solution.

Liu, Farina & Ozdaglar 2025, "UFT: Unifying Supervised and Reinforcement
Fine-Tuning" (arXiv 2505.16984). The expert solution y* of each prompt is cut
into n chunks; the first k of them (the hint h) are appended to the prompt,
with::

    k ~ Binomial(n, p(t)),
    p(t) = p_low + (p_high - p_low) (1 + cos(pi (t + 1) / T_hint)) / 2   for t < T_hint,
    p(t) = 0                                                              for t >= T_hint

(their Eq. B.1), so the hints fade out over T_hint steps and training ends on
plain prompts, as evaluation sees them. The model samples the continuation;
the loss is GRPO on the continuation plus beta times the NLL of the hint
(their objective: the RL value plus beta x the hint's log-likelihood)::

    L = L_GRPO(x + h; continuations) + beta * (-(1/N_h) sum_t log pi(h_t | x, h_<t))

Choices:

- Chunks are token chunks: y*'s tokens (no eos) split into
  ``min(n, len)`` near-equal consecutive pieces (``numpy.array_split``); the
  paper cuts at reasoning steps, which the tasks here do not mark.
  k = n gives the whole solution; the model then only has to end it.
- The reward scores hint + continuation (the completed solution), with the
  task's verifier and any extra reward functions.
- t counts uft steps over the whole schedule; T_hint = ``uft.t_hint``;
  the hint NLL is a token mean over the step's hint tokens (0 when no prompt
  got a hint); ``expert_tokens`` counts the hint tokens.
- One update per rollout (``rl.num_iterations = rl.num_mini_batches = 1``);
  ``rl.beta`` adds the KL term on the continuation tokens.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.data import encode_prompts, pad_right
from postcouple.train.hpt import _check_single_update
from postcouple.train.logprobs import sequence_logprobs, shifted_nll
from postcouple.train.mixed import StepInputs, expert_solutions
from postcouple.train.optim import check_finite
from postcouple.train.rl import advantages, policy_loss, reward_stats
from postcouple.train.sampling import rl_sampling, sample, score


def hint_prob(cfg: Any, t: int) -> float:
    """p(t) of a :class:`~postcouple.train.config.UFTConfig` at uft step ``t`` (0-based).

    Example:
        >>> from postcouple.train.config import UFTConfig
        >>> c = UFTConfig(t_hint=4, p_high=0.9, p_low=0.1)
        >>> [round(hint_prob(c, t), 3) for t in range(6)]
        [0.783, 0.5, 0.217, 0.1, 0.0, 0.0]
    """
    if t >= cfg.t_hint:
        return 0.0
    return cfg.p_low + (cfg.p_high - cfg.p_low) * 0.5 * (
        1.0 + math.cos(math.pi * (t + 1) / cfg.t_hint)
    )


def hint_lengths(
    solution_lengths: list[int], num_chunks: int, p: float, rng: np.random.Generator
) -> list[int]:
    """Hint length in tokens per solution: the first k of ``min(n, len)`` chunks,
    k ~ Binomial(min(n, len), p)."""
    out = []
    for L in solution_lengths:
        n = min(num_chunks, L)
        if n == 0:
            out.append(0)
            continue
        k = int(rng.binomial(n, p))
        sizes = [len(c) for c in np.array_split(np.arange(L), n)]
        out.append(int(sum(sizes[:k])))
    return out


class _PromptIds:
    """A stand-in tokenizer for :func:`~postcouple.train.sampling.sample`: the
    "prompts" are indices into token ids built here (prompt + hint), so the
    hinted prompts reach ``generate`` token for token, without a decode/encode
    round trip. Everything else is the real tokenizer's."""

    chat_template = None  # the ids are already rendered

    def __init__(self, tok: Any, ids: list[list[int]]) -> None:
        self._tok, self._ids = tok, ids

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self._ids[int(text)]}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tok, name)


def uft_step(x: StepInputs, prompts: list[Example]) -> dict[str, float]:
    """One UFT step (see the module docstring)."""
    rc, uc = x.cfg.rl, x.cfg.uft
    _check_single_update(rc, "uft")
    if rc.use_kl_in_reward:
        raise ValueError("uft: rl.use_kl_in_reward is not supported (use rl.beta as a loss term)")
    G, tok, dev = rc.num_generations, x.tok, x.device
    t0 = time.perf_counter()

    # -- hints ------------------------------------------------------------------
    p = hint_prob(uc, x.progress[0])
    sols = expert_solutions(x.task, prompts, x.rng)
    sol_ids = [tok(s, add_special_tokens=False)["input_ids"] for s in sols]
    hl = hint_lengths([len(s) for s in sol_ids], uc.num_chunks, p, x.rng)
    hints = [s[:h] for s, h in zip(sol_ids, hl)]
    pids = encode_prompts(tok, [e.prompt for e in prompts])
    hinted = [a + h for a, h in zip(pids, hints)]
    hint_text = [tok.decode(h, skip_special_tokens=True) for h in hints]

    # -- rollout from prompt + hint; reward on hint + continuation ------------------
    ro = sample(
        x.model, _PromptIds(tok, hinted), [str(i) for i in range(len(prompts))], **rl_sampling(rc)
    )
    t1 = time.perf_counter()
    rep = [e for e in prompts for _ in range(G)]  # row i is prompt i // G
    full = [hint_text[i // G] + c for i, c in enumerate(ro.completions)]
    r = score(x.task, full, rep, x.reward_funcs, rc.reward_weights)  # (B,)
    mask = ro.response_mask.cpu().numpy().astype(np.float32)  # (B, C)
    adv_t = torch.from_numpy(advantages(r, mask, rc)).to(dev)  # (B, C)
    t2 = time.perf_counter()

    # -- GRPO on the continuations ------------------------------------------------
    ref_lp = None
    if rc.beta > 0 and x.ref_model is not None:
        with torch.no_grad(), x.autocast or torch.autocast("cpu", enabled=False):
            ref_lp, _ = sequence_logprobs(x.ref_model, ro, packing=rc.packing)
    rl_loss, st = policy_loss(x.model, ro, adv_t, rc, slice(None), None, ref_lp, x.autocast)
    check_finite(rl_loss, "UFT RL loss")
    rl_loss.backward()

    # -- beta x NLL of the hint tokens -----------------------------------------------
    n_hint = int(sum(hl))
    hint_nll = 0.0
    if n_hint and uc.beta > 0:
        idx = [i for i, h in enumerate(hl) if h > 0]
        seqs = [np.asarray(hinted[i], dtype=np.int64) for i in idx]
        plens = np.asarray([len(pids[i]) for i in idx], dtype=np.int64)
        ids, att, lab = pad_right(seqs, plens, tok.pad_token_id, dev)  # (b, T)
        with x.autocast or torch.autocast("cpu", enabled=False):
            nll, hmask = shifted_nll(x.model, ids, lab, att)  # (b, T-1)
        loss_h = nll.sum() / hmask.sum().clamp(min=1)
        check_finite(loss_h, "UFT hint NLL")
        (uc.beta * loss_h).backward()
        hint_nll = float(loss_h.detach())
    x.opt_step()

    return {
        **reward_stats(r, mask, G),
        **st,
        "loss": float(rl_loss.detach()) + uc.beta * hint_nll,
        "rl_loss": float(rl_loss.detach()),
        "hint_nll": hint_nll,
        "hint_prob": p,
        "hint_length": float(np.mean(hl)),
        "time_generate": t1 - t0,
        "time_reward": t2 - t1,
        "time_train": time.perf_counter() - t2,
        "tokens": ro.num_tokens,
        "expert_tokens_step": n_hint,
    }
