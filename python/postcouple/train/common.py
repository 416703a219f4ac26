"""Pieces every stage shares: tokenising examples, log-probs, sampling, data order, lr."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from postcouple.tasks.base import Example

# -- text -> ids ---------------------------------------------------------------


def render_prompt(tok: Any, prompt: str) -> str:
    """The prompt as the model sees it: through the chat template when there is one."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
    return prompt


def encode_prompts(tok: Any, prompts: Sequence[str]) -> list[list[int]]:
    texts = [render_prompt(tok, p) for p in prompts]
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


def encode_examples(
    tok: Any, examples: Sequence[Example], max_length: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """``prompt + response + eos`` token ids per example, and each prompt's length.

    Over ``max_length`` the response is cut (the prompt is kept whole, up to
    ``max_length - 1`` tokens).
    """
    prompts = encode_prompts(tok, [e.prompt for e in examples])
    seqs, plens = [], []
    for e, p in zip(examples, prompts):
        r = tok(e.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        p = p[: max_length - 1]
        ids = (p + r)[:max_length]
        seqs.append(np.asarray(ids, dtype=np.int64))
        plens.append(len(p))
    return seqs, np.asarray(plens, dtype=np.int64)


def pad_right(
    seqs: Sequence[np.ndarray], plens: np.ndarray, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` (B, T), ``attention_mask`` (B, T) and ``labels`` (B, T)
    (-100 on prompt and padding; unshifted, as HF expects)."""
    B, T = len(seqs), max(len(s) for s in seqs)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    att = np.zeros((B, T), dtype=np.int64)
    lab = np.full((B, T), -100, dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        att[i, : len(s)] = 1
        lab[i, plens[i] : len(s)] = s[plens[i] :]
    return (
        torch.from_numpy(ids).to(device),
        torch.from_numpy(att).to(device),
        torch.from_numpy(lab).to(device),
    )


# -- log-probs -----------------------------------------------------------------


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position: logits (B, T, V), targets (B, T) -> (B, T) float32.

    Computed as ``logit[target] - logsumexp(logits)`` in float32, which needs
    no (B, T, V) log-softmax copy.
    """
    logits = logits.float()
    safe = targets.clamp(min=0)
    picked = logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution per position, (B, T) float32."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def shifted_nll(
    model: Any,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token NLL of ``labels`` (shifted by one, -100 ignored): returns
    ``(nll (B, T-1), mask (B, T-1))``."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
    )
    tgt = labels[:, 1:]  # (B, T-1)
    mask = (tgt != -100).float()
    nll = -token_logprobs(out.logits[:, :-1], tgt) * mask
    return nll, mask


# -- sampling ------------------------------------------------------------------


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


def sequence_logprobs(
    model: Any, ro: Rollout, *, with_entropy: bool = False, packing: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(token) of every completion token, (B, C); and its entropy if asked.

    ``packing``: one padding-free forward instead of the padded (B, P+C) one.
    Every row's prompt (without its left padding) and completion (up to its
    eos) are laid end to end in a single row by ``postcouple.packing``
    (position ids restarting per sequence, so the model sees exactly what the
    padded forward shows it); values come back in the same (B, C) layout, 0
    past each completion. One forward per call keeps FSDP ranks in lockstep.
    Needs varlen attention (``"sdpa_varlen"`` or ``"flash_attention_2"``).
    """
    if packing:
        return _packed_logprobs(model, ro, with_entropy)
    pos = (ro.attention_mask.cumsum(1) - 1).clamp(min=0)
    out = model(
        input_ids=ro.input_ids, attention_mask=ro.attention_mask, position_ids=pos, use_cache=False
    )
    P = ro.prompt_len
    logits = out.logits[:, P - 1 : -1]  # (B, C, V): predicts completion tokens
    lp = token_logprobs(logits, ro.input_ids[:, P:])
    ent = token_entropy(logits.detach()) if with_entropy else None
    return lp, ent


def _packed_logprobs(
    model: Any, ro: Rollout, with_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    from postcouple.packing import collate_packed, pack

    P = ro.prompt_len
    B, C = ro.response_mask.shape
    dev = ro.input_ids.device
    ids = ro.input_ids.cpu().numpy()  # (B, P+C)
    att = ro.attention_mask.cpu().numpy()
    plen = att[:, :P].sum(1)  # (B,) real prompt tokens (left padded)
    clen = att[:, P:].sum(1)  # (B,) completion tokens up to and including eos
    if (plen == 0).any():
        raise ValueError("sequence_logprobs: packing needs a non-empty prompt in every row")
    seqs = [np.concatenate([ids[i, P - plen[i] : P], ids[i, P : P + clen[i]]]) for i in range(B)]
    lengths = plen + clen
    plan = pack(lengths, int(lengths.sum()), strategy="bfd")  # one bin: one forward
    (b,) = collate_packed(seqs, plan)
    out = model(
        input_ids=torch.from_numpy(b["input_ids"]).to(dev),  # (1, L)
        position_ids=torch.from_numpy(b["position_ids"]).to(dev),  # (1, L)
        use_cache=False,
    )
    # completion token j of sequence i sits at start_i + plen_i + j and is
    # predicted by the logits one position earlier
    seq = b["seq_indices"]  # (B,) in bin order
    start = b["cu_seqlens"][:-1].astype(np.int64)  # (B,)
    n = clen[seq]
    rows = np.repeat(seq, n)  # (N,)
    cols = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # (N,) j within its completion
    src = np.repeat(start + plen[seq] - 1, n) + cols  # (N,)
    src_t = torch.from_numpy(src).to(dev)
    logits = out.logits[0, src_t]  # (N, V)
    tgt = torch.from_numpy(b["input_ids"][0, src + 1]).to(dev)  # (N,)
    vals = token_logprobs(logits, tgt)  # (N,)
    idx = (torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev))
    lp = torch.zeros((B, C), dtype=vals.dtype, device=dev).index_put(idx, vals)
    ent = None
    if with_entropy:
        e = token_entropy(logits.detach())
        ent = torch.zeros((B, C), dtype=e.dtype, device=dev).index_put(idx, e)
    return lp, ent


# -- data order ----------------------------------------------------------------


class EpochSampler:
    """Indices in a fresh permutation per epoch, derived from (seed, epoch).

    Its whole state is ``(epoch, pos)``, so a resumed run continues exactly.
    """

    def __init__(self, n: int, seed: int, epoch: int = 0, pos: int = 0) -> None:
        if n <= 0:
            raise ValueError("sampler: the dataset is empty")
        self.n, self.seed, self.epoch, self.pos = n, seed, epoch, pos
        self._perm = self._make()

    def _make(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.pos >= self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._make()
            j = min(self.n, self.pos + k - len(out))
            out += self._perm[self.pos : j].tolist()
            self.pos = j
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}


# -- learning rate ---------------------------------------------------------------


def lr_at(step: int, total: int, base: float, kind: str, warmup_ratio: float) -> float:
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
    if not torch.isfinite(loss).all():
        raise FloatingPointError(
            f"{what} is {loss.item()}: training stopped; the last good checkpoint is kept"
        )
