"""``sdpa_varlen``: padding-free attention for packed rows without flash-attention.

Packed micro-batches (``postcouple.packing.collate_packed``) lay several
sequences end to end in one row, with ``position_ids`` restarting at 0 for each.
flash-attention-2 reads those restarts as varlen boundaries. HF's ``sdpa`` and
``eager`` cannot: they build a block-diagonal (T, T) mask over the whole row and
attend over all of it, so a 4,096-token row of 150–900-token GSM8K sequences
costs O(row²) instead of Σ L_i² (measured on a CPU, tiny model: packed rows of
4,096 tokens were 3.7× slower than padded micro-batches of the same examples).

This module registers an attention implementation named ``"sdpa_varlen"`` with
transformers (``AttentionInterface`` + ``AttentionMaskInterface``):

- a packed forward (no attention mask, no cache, position ids restarting) runs
  ``torch.nn.functional.scaled_dot_product_attention`` once per sequence with
  ``is_causal=True`` (sequences of similar length share one batched call, see
  :data:`BUCKET_SLACK`): cost Σ L_i², no (T, T) mask is ever built;
- everything else (padded batches with a mask, generation with a KV cache, one
  sequence per row) is exactly HF's ``sdpa`` path (same mask, same kernel).

Like flash_attention_2 (and unlike HF's sdpa, which skips packing detection
whenever a cache object exists, e.g. a forward without ``use_cache=False``),
the split follows the position ids whenever queries and keys have the same
length (no cached prefix) and no padding mask is given.
Boundaries follow HF's rule for packed rows (``find_packed_sequence_indices``):
a new sequence starts wherever the position id is not the previous one plus one.
They and the gather indices are built once per forward (cached on the
position-id tensor), not once per layer.

Load a model with ``attn_implementation="sdpa_varlen"`` (the default of
``postcouple.models.load_model_and_tokenizer`` and of ``[model]`` in run
configs). On a GPU with flash-attn installed, ``"flash_attention_2"`` remains
the faster choice.

Example:
    >>> import torch
    >>> from postcouple.models import load_model_and_tokenizer
    >>> model, tok = load_model_and_tokenizer("tiny", attn_implementation="sdpa_varlen")
    >>> ids = torch.tensor([[5, 6, 7, 8, 9]])  # two sequences packed: 3 + 2 tokens
    >>> pos = torch.tensor([[0, 1, 2, 0, 1]])
    >>> model(input_ids=ids, position_ids=pos).logits.shape
    torch.Size([1, 5, 100])
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

NAME = "sdpa_varlen"

_registered = False

#: A packed row's plan: per bucket either ``(start, end)`` (one sequence, a
#: slice) or ``(idx (n, W), keep (n, W), dst (sum L,))`` index tensors (several
#: sequences of similar length in one batched call).
Plan = list[tuple[Any, ...]]

#: Sequences of one row whose lengths are within this factor of the bucket's
#: longest share one sdpa call (padded up to it): fewer calls for many short
#: sequences. Measured (tiny model, CPU, one thread, SFT step fwd+bwd): 64 arith
#: examples (8–12 tokens) 19.0 ms at 1.0 (equal lengths only), 18.1 at 1.1, 17.0
#: at 1.3 (padded micro-batches: 19.9 ms); 32 GSM8K examples unchanged (0.53 s).
BUCKET_SLACK = 1.3

# (weakref to the position-id tensor, its version, slack, plan): one forward's
# layers all receive the same position_ids object, so the boundaries (one host
# sync) and the index tensors are built once per forward, not once per layer
_last: tuple[Any, int, float, list[Plan] | None] | None = None


def segments(position_ids: torch.Tensor) -> list[list[tuple[int, int]]] | None:
    """Per row, the ``(start, end)`` spans of the packed sequences, or ``None``
    when every row holds one sequence (plain causal attention is then exact).

    Example:
        >>> segments(torch.tensor([[0, 1, 2, 0, 1]]))
        [[(0, 3), (3, 5)]]
        >>> segments(torch.tensor([[0, 1, 2]])) is None
        True
    """
    pos = position_ids.reshape(-1, position_ids.shape[-1])  # (B, T)
    # a sequence starts where the position is not the previous one plus one
    diff = pos[:, 1:] - pos[:, :-1]  # (B, T-1)
    starts = torch.nonzero(diff != 1).tolist()  # one host sync
    if not starts:
        return None
    t = pos.shape[-1]
    cuts: list[list[int]] = [[0] for _ in range(pos.shape[0])]
    for r, c in starts:
        cuts[r].append(c + 1)
    return [list(zip(c, c[1:] + [t])) for c in cuts]


def _buckets(row: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Group a row's spans into batches of similar length (longest first)."""
    order = sorted(row, key=lambda s: s[0] - s[1])  # longest first
    out: list[list[tuple[int, int]]] = []
    for a, b in order:
        if out and (out[-1][0][1] - out[-1][0][0]) <= BUCKET_SLACK * (b - a):
            out[-1].append((a, b))
        else:
            out.append([(a, b)])
    return out


def _plan(position_ids: torch.Tensor) -> list[Plan] | None:
    """Per row, its buckets with their index tensors; cached for one forward."""
    global _last
    hit = _last
    if (
        hit is not None
        and hit[0]() is position_ids
        and hit[1] == position_ids._version
        and hit[2] == BUCKET_SLACK
    ):
        return hit[3]
    segs = segments(position_ids)
    plans = None
    if segs is not None:
        dev = position_ids.device
        plans = []
        for row in segs:
            plan: Plan = []
            for spans in _buckets(row):
                if len(spans) == 1:
                    plan.append(spans[0])
                    continue
                # shorter sequences are right-padded by repeating their last token:
                # under a causal mask no real position sees those slots, and their
                # outputs are dropped
                width = max(b - a for a, b in spans)
                t = torch.arange(width, device=dev)  # (W,)
                start = torch.tensor([a for a, _ in spans], device=dev)  # (n,)
                lens = torch.tensor([b - a for a, b in spans], device=dev)  # (n,)
                idx = start[:, None] + torch.minimum(t[None, :], lens[:, None] - 1)  # (n, W)
                keep = t[None, :] < lens[:, None]  # (n, W)
                plan.append((idx, keep, idx[keep]))
            plans.append(plan)
    _last = (weakref.ref(position_ids), position_ids._version, BUCKET_SLACK, plans)
    return plans


def sdpa_varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,  # (B, H, T, D)
    key: torch.Tensor,  # (B, Hkv, S, D)
    value: torch.Tensor,  # (B, Hkv, S, D)
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    position_ids: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """HF attention-interface function: per-sequence sdpa on packed rows, HF's
    ``sdpa_attention_forward`` otherwise. Returns ``((B, T, H, D), None)``."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    plans = None
    q_len = query.shape[2]
    if (
        attention_mask is None
        and position_ids is not None
        and q_len > 1
        and key.shape[2] == q_len
        and position_ids.shape[-1] == q_len
        and kwargs.get("softcap") is None
    ):
        plans = _plan(position_ids)
    if plans is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    rows = []
    for r in range(query.shape[0]):
        q, k, v = query[r], key[r], value[r]  # (H, T, D), (Hkv, T, D)
        out = torch.empty_like(q)  # (H, T, D)
        for item in plans[r] if len(plans) > 1 else plans[0]:
            if len(item) == 2:  # one sequence: a slice
                a, b = item
                o = _sdpa(
                    q[None, :, a:b], k[None, :, a:b], v[None, :, a:b], dropout, scaling, groups
                )
                out[:, a:b] = o[0]
                continue
            idx, keep, dst = item  # several sequences: one batched call
            o = _sdpa(
                q[:, idx].transpose(0, 1),  # (n, H, W, D)
                k[:, idx].transpose(0, 1),  # (n, Hkv, W, D)
                v[:, idx].transpose(0, 1),
                dropout,
                scaling,
                groups,
            )  # (n, H, W, D)
            out[:, dst] = o.transpose(0, 1)[:, keep]  # (H, sum L, D)
        rows.append(out)
    res = torch.stack(rows)  # (B, H, T, D)
    return res.transpose(1, 2).contiguous(), None  # (B, T, H, D)


def _sdpa(q, k, v, dropout, scaling, groups):  # (n, H, L, D) each; causal
    return torch.nn.functional.scaled_dot_product_attention(
        q, k, v, dropout_p=dropout, scale=scaling, is_causal=q.shape[2] > 1, enable_gqa=groups > 1
    )


def sdpa_varlen_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,
    kv_offset: int = 0,
    attention_mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> torch.Tensor | None:
    """HF mask-interface function: no mask for a cache-free forward without a
    padding mask (the attention function splits packed rows itself), HF's
    ``sdpa_mask`` otherwise."""
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None and kv_length == q_length and not q_offset and not kv_offset:
        return None
    return sdpa_mask(
        batch_size,
        q_length,
        kv_length,
        q_offset=q_offset,
        kv_offset=kv_offset,
        attention_mask=attention_mask,
        **kwargs,
    )


def register() -> str:
    """Register ``"sdpa_varlen"`` with transformers (idempotent); returns the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface

        AttentionInterface.register(NAME, sdpa_varlen_attention_forward)
        AttentionMaskInterface.register(NAME, sdpa_varlen_mask)
        _registered = True
    return NAME


#: Attention implementations that split a packed row at its sequence boundaries
#: in every forward: this module's, and flash-attention's varlen path (any
#: implementation whose name contains "flash", e.g. "flash_attention_2",
#: "flash_attention_3", "kernels-community/flash-attn").
VARLEN_IMPLEMENTATIONS = (NAME, "flash_attention_2", "flash_attention_3")


def require_varlen(model: Any) -> str:
    """Check that ``model`` can be fed packed rows; returns its attention name.

    A packed row (``postcouple.packing.collate_packed``) holds several
    sequences end to end, told apart only by ``position_ids`` restarting at 0.
    ``"sdpa_varlen"`` and flash-attention split the row there in every forward.
    HF's ``"sdpa"`` and ``"eager"`` (and others such as ``"flex_attention"``) do
    not whenever the forward has a KV cache, which it does under the default
    ``use_cache``: every sequence then attends to the ones before it in the
    row, and the loss is silently wrong (tests/test_attention.py shows it).

    Args:
        model: a transformers model (or a DDP/FSDP wrapper with ``.module``).

    Returns:
        The model's attention implementation name.

    Raises:
        ValueError: the implementation lets packed sequences attend across
            their boundaries (or the model has no HF config to tell).

    Example:
        >>> from postcouple.models import load_model_and_tokenizer
        >>> model, _ = load_model_and_tokenizer("tiny", attn_implementation="sdpa_varlen")
        >>> require_varlen(model)
        'sdpa_varlen'
        >>> model, _ = load_model_and_tokenizer("tiny", attn_implementation="eager")
        >>> require_varlen(model)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model: attention 'eager' lets packed sequences attend across their boundaries ...
    """
    inner = model
    while hasattr(inner, "module") and not hasattr(inner, "config"):
        inner = inner.module  # DDP / FSDP wrappers
    impl = getattr(getattr(inner, "config", None), "_attn_implementation", None)
    if impl is None:
        raise ValueError(
            f"model: cannot tell the attention implementation of a {type(model).__name__} "
            "(no config._attn_implementation); packed rows need varlen attention"
        )
    name = str(impl)
    if name in VARLEN_IMPLEMENTATIONS or "flash" in name.lower():
        return name
    raise ValueError(
        f"model: attention {name!r} lets packed sequences attend across their boundaries "
        "(a silently wrong loss); load the model with attn_implementation='sdpa_varlen' "
        "(postcouple.attention, the default of postcouple.models.load_model_and_tokenizer) "
        "or 'flash_attention_2', or feed padded batches"
    )
