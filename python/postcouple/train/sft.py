"""SFT stage: teacher-forced cross-entropy on response tokens.

Choices (and why):

- Loss: NLL of the response tokens and the closing eos; prompt tokens are
  masked (-100). Normalised as a token mean over the whole optimizer step
  (every micro-batch divides by the step's total response-token count), so
  packing, padding and accumulation all give the same gradient.
- Batches: packed padding-free micro-batches by default. Sequences are packed
  best-fit-decreasing into micro-batches of ``max_tokens_per_batch`` tokens
  (``postcouple.packing.pack``, Rust) and laid end to end in one row
  (``collate_packed``), with ``position_ids`` restarting at 0 per sequence;
  flash-attention-2 reads them as varlen boundaries. HF's sdpa/eager cannot:
  they attend over the whole row under a block-diagonal mask (O(row²));
  ``attn_implementation = "sdpa_varlen"`` (:mod:`postcouple.attention`, the
  default) runs sdpa once per sequence instead. ``packing=False`` pads on the
  right instead (length-grouped by default).
- Optimiser: AdamW; the lr schedule (warmup, then constant/linear/cosine) runs
  over the stage's steps; gradient clipping by global norm; bf16 autocast on
  CUDA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from postcouple.tasks.base import Example
from postcouple.train.config import SFTConfig
from postcouple.train.data import encode_examples, pad_right
from postcouple.train.distributed import Dist
from postcouple.train.logprobs import batch_nll


def micro_batches(
    tok: Any,
    examples: Sequence[Example],
    *,
    packing: bool,
    capacity: int,
    max_length: int,
    device: torch.device,
    group_by_length: bool = True,
) -> list[dict[str, torch.Tensor]]:
    """The step's examples as micro-batches of model inputs with ``labels``.

    Packed: best-fit-decreasing rows of at most ``capacity`` tokens. Padded:
    consecutive sequences (sorted by length when ``group_by_length``, else in
    data order) while the micro-batch's padded size stays within ``capacity``.
    """
    seqs, plens = encode_examples(tok, examples, max_length)
    if packing:
        from postcouple.packing import collate_packed, pack

        lengths = [len(s) for s in seqs]
        plan = pack(lengths, max(capacity, max(lengths)), strategy="bfd")
        packed: list[dict[str, torch.Tensor]] = []
        for b in collate_packed(seqs, plan, prompt_lengths=plens):
            packed.append(
                {
                    "input_ids": torch.from_numpy(b["input_ids"]).to(device),  # (1, L)
                    "position_ids": torch.from_numpy(b["position_ids"]).to(device),  # (1, L)
                    "labels": torch.from_numpy(b["labels"]).to(device),  # (1, L)
                }
            )
        return packed
    # padded: split into chunks of at most `capacity` padded tokens
    order = list(range(len(seqs)))
    if group_by_length:
        order = sorted(order, key=lambda i: len(seqs[i]))
    chunks: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        n = len(seqs[i])
        if cur and (len(cur) + 1) * max(longest, n) > capacity:
            chunks.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        chunks.append(cur)
    mbs = []
    for idx in chunks:
        ids, att, lab = pad_right([seqs[i] for i in idx], plens[idx], tok.pad_token_id, device)
        mbs.append({"input_ids": ids, "attention_mask": att, "labels": lab})
    return mbs


def step_micro_batches(
    tok: Any, examples: Sequence[Example], cfg: SFTConfig, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    """:func:`micro_batches` with an :class:`~postcouple.train.config.SFTConfig`'s options."""
    return micro_batches(
        tok,
        examples,
        packing=cfg.packing,
        capacity=cfg.max_tokens_per_batch,
        max_length=cfg.max_length,
        device=device,
        group_by_length=cfg.group_by_length,
    )


def _lockstep(
    model: Any, mbs: list[dict[str, torch.Tensor]], template: dict[str, torch.Tensor] | None
) -> list[dict[str, torch.Tensor]]:
    """Under FSDP every forward/backward is a collective: pad this rank's list
    (possibly empty) to the largest count over ranks with label-free copies of
    ``template`` (they add no loss). Without FSDP: unchanged."""
    template = template if template is not None else (mbs[0] if mbs else None)
    if not getattr(model, "_postcouple_fsdp", False) or template is None:
        return mbs
    import torch.distributed as dist

    n = torch.tensor([len(mbs)], device=template["input_ids"].device)
    dist.all_reduce(n, op=dist.ReduceOp.MAX)
    dummy = dict(template, labels=torch.full_like(template["labels"], -100))
    return mbs + [dummy] * (int(n) - len(mbs))


def sft_loss_backward(
    model: Any,
    mbs: list[dict[str, torch.Tensor]],
    *,
    scale: float = 1.0,
    autocast: torch.autocast | None = None,
    num_tokens: int | None = None,
    template: dict[str, torch.Tensor] | None = None,
) -> tuple[float, int]:
    """Backward of ``scale`` x the token-mean NLL over all micro-batches.

    ``num_tokens``: the normaliser, when these micro-batches are one rank's part
    of a larger step (default: their own target-token count). ``template``: the
    stand-in micro-batch for FSDP lockstep when this rank's list may be empty.

    Returns ``(mean NLL per token, number of tokens)`` of these micro-batches.
    """
    mbs = _lockstep(model, mbs, template)
    own = sum(_targets(mb) for mb in mbs)
    ntok = own if num_tokens is None else num_tokens
    total = 0.0
    for mb in mbs:
        with autocast or torch.autocast("cpu", enabled=False):
            nll, _ = batch_nll(model, mb)
        loss = nll.sum() / max(ntok, 1)
        (loss * scale).backward()
        total += float(nll.detach().sum())
    return total / max(own, 1), own


def _targets(mb: dict[str, torch.Tensor]) -> int:
    return int((mb["labels"][:, 1:] != -100).sum())


def sft_step(
    model: Any,
    tok: Any,
    examples: Sequence[Example],
    cfg: SFTConfig,
    device: torch.device,
    autocast: Any = None,
    dist: Dist | None = None,
) -> dict[str, float]:
    """Gradients of one SFT step (the caller clips and steps the optimizer).

    With ``dist`` (a :class:`postcouple.train.distributed.Dist` of several
    ranks), ``examples`` is the *global* batch: every rank builds the same
    micro-batches, ``postcouple.packing.balance`` (Karmarkar–Karp on token
    counts) gives each rank its share, and each rank normalises by the global
    token count times the world size, so after gradient averaging the step is
    exactly the single-process step, whatever the length spread.
    """
    mbs = step_micro_batches(tok, examples, cfg, device)
    if dist is None or not dist.enabled:
        loss, ntok = sft_loss_backward(model, mbs, autocast=autocast)
        return {"loss": loss, "tokens": ntok, "micro_batches": len(mbs)}
    import numpy as np

    from postcouple.packing import balance

    total = sum(_targets(mb) for mb in mbs)
    work = np.array([mb["input_ids"].numel() for mb in mbs], dtype=np.int64)
    parts, _ = balance(work, dist.world_size)
    # fewer micro-batches than ranks leaves a rank empty: under DDP it joins the
    # all-reduce with zero gradients, under FSDP _lockstep gives it a stand-in
    mine = [mbs[i] for i in parts[dist.rank]]
    loss, own = sft_loss_backward(
        model, mine, scale=dist.world_size, autocast=autocast, num_tokens=total, template=mbs[0]
    )
    # reduce_metrics averages "loss" over ranks and sums "tokens": report this
    # rank's share so that the mean is the global token mean
    share = loss * own * dist.world_size / max(total, 1)
    return {"loss": share, "tokens": own, "micro_batches": len(mine)}
