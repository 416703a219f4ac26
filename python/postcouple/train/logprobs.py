"""Log-probabilities the losses are made of: per token, per completion, NLL of labels.

Example:
    >>> import torch
    >>> from postcouple.train.logprobs import token_logprobs
    >>> logits = torch.zeros(1, 2, 4)  # (B, T, V): uniform over 4 tokens
    >>> token_logprobs(logits, torch.tensor([[0, 3]])).exp()
    tensor([[0.2500, 0.2500]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from postcouple.train.sampling import Rollout


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


def batch_nll(model: Any, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`shifted_nll` of a collated micro-batch (``input_ids``, ``labels`` and,
    if present, ``attention_mask`` / ``position_ids``): ``(nll (b, T-1), mask (b, T-1))``,
    the NLL 0 off the targets."""
    return shifted_nll(
        model, mb["input_ids"], mb["labels"], mb.get("attention_mask"), mb.get("position_ids")
    )


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
