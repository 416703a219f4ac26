"""Evaluation hooks: the quantities the paper's two effects are stated in.

At every evaluation (run by the engine every ``eval.interval`` steps of every
stage, and at each stage's first and last step):

- ``sft_loss``: mean NLL per response token on held-out expert examples;
  ``sft_nll_seq``: the same summed per sequence (nats per response, the unit
  of the paper's L_SFT and of C1(beta));
- ``kl_expert`` (tasks that know their expert distribution exactly, such as
  ``arith``): KL(p_D || pi) = E_{y~p_D}[log p_D(y|x) - log pi(y|x)];
- ``reward``: mean task reward of ``num_samples`` completions at temperature 1
  on held-out prompts; ``greedy_acc``: the reward of the greedy completion;
- ``kl_init``: KL(pi || pi_init) per sequence, estimated on those samples
  (k1), where pi_init is the model this run started from (after
  ``init_from``; also the RL stages' KL reference). Called ``kl_ref`` before
  0.2 (:func:`postcouple.train.metrics.read_metrics` renames it in old files);
  ``entropy``: mean per-token entropy of the policy on them;
- with ``grad_cosine``: cos(grad L_SFT, grad L_RL) on fixed probe batches,
  and both gradient norms (see :func:`grad_cosine`).

Evaluation draws its randomness from its own generator seeded by
``(seed, step)`` and restores the training RNG afterwards, so evaluating more
or less often never changes the training trajectory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from postcouple.coupling.diagnostics import cosine_and_norms
from postcouple.tasks.base import Example
from postcouple.train.config import RLConfig, RunConfig
from postcouple.train.data import encode_examples, pad_right
from postcouple.train.logprobs import sequence_logprobs, shifted_nll
from postcouple.train.sampling import rl_sampling, sample_and_score


@torch.no_grad()
def sft_eval(
    model: Any, tok: Any, examples: list, max_length: int, batch: int = 64
) -> dict[str, float]:
    device = next(model.parameters()).device
    tot, ntok, seq_nll = 0.0, 0, []
    for i in range(0, len(examples), batch):
        seqs, plens = encode_examples(tok, examples[i : i + batch], max_length)
        ids, att, lab = pad_right(seqs, plens, tok.pad_token_id, device)
        nll, mask = shifted_nll(model, ids, lab, att)
        tot += float(nll.sum())
        ntok += int(mask.sum())
        seq_nll += nll.sum(1).tolist()
    return {"sft_loss": tot / max(ntok, 1), "sft_nll_seq": float(np.mean(seq_nll))}


def _flat_grad(model: Any) -> torch.Tensor:
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float()
            for p in model.parameters()
        ]
    )


def grad_cosine(
    model: Any,
    tok: Any,
    task: Any,
    probe: list[Example],
    prompts: list[Example],
    rl_cfg: RLConfig,
    max_length: int,
) -> dict[str, float]:
    """cos(grad L_SFT, grad L_RL) on fixed probe batches, and both norms.

    L_SFT: token-mean NLL of the expert responses of ``probe`` (large, so that the
    gradient is close to the population one and not one batch's noise). L_RL: the GRPO
    surrogate ``-mean(A * log pi)`` on ``num_generations`` samples of each of
    ``prompts`` (sampled as the RL stage samples: its temperature and ``top_p``;
    scored by the task's reward; ratio 1, no KL), so grad L_RL is minus the policy gradient. A
    negative cosine means an SFT step raises the RL loss (lowers the reward)
    to first order, and vice versa.
    """
    from postcouple.advantages import compute_advantages
    from postcouple.train.sft import micro_batches, sft_loss_backward

    device = next(model.parameters()).device
    saved = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    mbs = micro_batches(
        tok, probe, packing=False, capacity=1 << 30, max_length=max_length, device=device
    )
    sft_loss_backward(model, mbs)
    g_sft = _flat_grad(model)
    for p in model.parameters():
        p.grad = None
    G = rl_cfg.num_generations
    ro, r, _ = sample_and_score(model, tok, task, prompts, **rl_sampling(rl_cfg))  # r: (B,)
    mask = ro.response_mask.float()
    adv = compute_advantages("grpo", r, mask.cpu().numpy(), group_size=G)
    adv = torch.from_numpy(np.ascontiguousarray(adv, dtype=np.float32)).to(device)
    lp, _ = sequence_logprobs(model, ro)
    loss = -(adv * lp * mask).sum() / mask.sum().clamp(min=1)
    loss.backward()
    g_rl = _flat_grad(model)
    for p, g in zip(model.parameters(), saved):
        p.grad = g
    out = dict(zip(("grad_cos", "grad_norm_sft", "grad_norm_rl"), cosine_and_norms(g_sft, g_rl)))
    return {**out, "probe_reward": float(r.mean())}


def evaluate(
    model: Any, ref_model: Any, tok: Any, task: Any, cfg: RunConfig, step: int
) -> dict[str, float]:
    """All evaluation metrics at global ``step``; ``ref_model`` is the initial model."""
    ev, rl = cfg.eval, cfg.rl
    eval_ex = task.eval_examples()
    was = model.training
    model.eval()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        out = sft_eval(model, tok, eval_ex[: ev.num_examples], cfg.sft.max_length)
        if hasattr(task, "expert_logprob"):
            ex = eval_ex[: ev.num_examples]
            out["kl_expert"] = (
                float(np.mean([task.expert_logprob(e) for e in ex])) + out["sft_nll_seq"]
            )
        prompts = eval_ex[: ev.num_prompts]
        with torch.no_grad():
            ro, r, _ = sample_and_score(
                model,
                tok,
                task,
                prompts,
                num_generations=ev.num_samples,
                max_new_tokens=rl.max_new_tokens,
                temperature=1.0,
            )
            out["reward"] = float(np.nanmean(r))
            lp, ent = sequence_logprobs(model, ro, with_entropy=True)
            assert ent is not None
            m = ro.response_mask.float()
            out["entropy"] = float((ent * m).sum() / m.sum().clamp(min=1))
            if ref_model is not None:
                ref_lp, _ = sequence_logprobs(ref_model, ro)
                out["kl_init"] = float(((lp - ref_lp) * m).sum(1).mean())
            if ev.greedy:
                _, r_greedy, _ = sample_and_score(
                    model,
                    tok,
                    task,
                    prompts,
                    num_generations=1,
                    max_new_tokens=rl.max_new_tokens,
                    greedy=True,
                )
                out["greedy_acc"] = float(np.nanmean(r_greedy))
        if ev.grad_cosine:
            out.update(
                grad_cosine(
                    model,
                    tok,
                    task,
                    eval_ex[: ev.probe_examples],
                    eval_ex[: ev.probe_prompts],
                    rl,
                    cfg.sft.max_length,
                )
            )
    model.train(was)
    return out
