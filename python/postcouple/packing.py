"""Sequence packing for padding-free training, and workload balancing across ranks.

- :func:`pack` puts sequences into bins of ``capacity`` tokens (best-fit or
  first-fit decreasing, or TRL's "wrapped");
- :func:`collate_packed` lays each bin's sequences end to end as model inputs
  (``input_ids``, ``position_ids`` restarting at 0, ``labels``, ``cu_seqlens``;
  with ``return_tensors="pt"``, torch tensors under the names Hugging Face's
  varlen attention reads, ready for ``model(**batch)``);
- :func:`balance` splits workloads (e.g. packed micro-batch token counts) into
  ``k`` partitions of near-equal sums for data-parallel ranks (verl's
  ``seqlen_balancing`` semantics).

The work runs in the Rust core with the GIL released; inputs are lists or
numpy integer arrays, outputs are int64 numpy arrays (torch is imported only
for ``return_tensors="pt"``).

A packed row is only correct under attention that splits it at the sequence
boundaries: ``attn_implementation="sdpa_varlen"`` (:mod:`postcouple.attention`)
or flash-attention. HF's ``"sdpa"``/``"eager"`` let the sequences of a row attend
to each other whenever the forward has a KV cache (the default ``use_cache``),
which gives a silently wrong loss; :func:`postcouple.attention.require_varlen`
checks a model before packed rows are fed to it.

Example:
    >>> from postcouple.packing import pack, collate_packed
    >>> p = pack([5, 3, 4, 2, 6], capacity=10)
    >>> p.num_bins, [b.tolist() for b in p.bins]
    (2, [[2, 4], [0, 1, 3]])
    >>> batch = collate_packed([[1, 2, 3], [4, 5]], pack([3, 2], 8), prompt_lengths=[1, 1])
    >>> batch[0]["labels"].tolist(), batch[0]["position_ids"].tolist()
    ([[-100, 2, 3, -100, 5]], [[0, 1, 2, 0, 1]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from postcouple import _core

__all__ = ["Packing", "balance", "collate_packed", "pack"]


def _int64(x: Any, name: str) -> np.ndarray:
    if type(x).__module__.split(".", 1)[0] == "torch":
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{name}: could not make an integer array ({e})") from None
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integers, got dtype {a.dtype}")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: values too large for int64")
    return np.ascontiguousarray(a, dtype=np.int64)


@dataclass(frozen=True)
class Packing:
    """The result of :func:`pack`.

    Attributes:
        capacity: tokens per bin.
        bin_ptr: (num_bins + 1,) bin ``b`` holds pieces ``bin_ptr[b]:bin_ptr[b+1]``.
        seq, offset, length: (num_pieces,) each piece is tokens
            ``offset:offset+length`` of sequence ``seq`` (whole sequences have
            offset 0; ``overflow="split"``/``"truncate"`` and ``"wrapped"`` make
            partial pieces).
    """

    capacity: int
    bin_ptr: np.ndarray
    seq: np.ndarray
    offset: np.ndarray
    length: np.ndarray

    @property
    def num_bins(self) -> int:
        return len(self.bin_ptr) - 1

    @property
    def bins(self) -> list[np.ndarray]:
        """Sequence indices per bin (int64 arrays, ascending index order)."""
        if self.num_bins == 0:
            return []
        return np.split(self.seq, self.bin_ptr[1:-1])

    @property
    def bin_tokens(self) -> np.ndarray:
        """Tokens per bin, (num_bins,)."""
        c = np.concatenate([[0], np.cumsum(self.length)])
        return c[self.bin_ptr[1:]] - c[self.bin_ptr[:-1]]

    @property
    def efficiency(self) -> float:
        """Tokens / (bins x capacity): 1.0 means no padding at all."""
        return float(self.length.sum()) / (self.num_bins * self.capacity) if self.num_bins else 1.0


def pack(
    lengths: Sequence[int] | np.ndarray,
    capacity: int,
    strategy: str = "bfd",
    overflow: str = "error",
) -> Packing:
    """Pack sequences of ``lengths`` tokens into bins of ``capacity`` tokens.

    Args:
        lengths: (n,) non-negative integers.
        capacity: tokens per bin (> 0).
        strategy: ``"bfd"`` (best-fit decreasing; fewest bins in practice),
            ``"ffd"`` (first-fit decreasing) or ``"wrapped"`` (in order, cut
            every ``capacity`` tokens; splits sequences, like TRL's "wrapped").
        overflow: a sequence longer than ``capacity``: ``"error"``
            (``ValueError``), ``"truncate"`` (keep its first ``capacity``
            tokens) or ``"split"`` (full-capacity pieces, each its own bin, and
            the remainder packed like any sequence).

    Returns:
        A :class:`Packing`. Deterministic: ties are broken by index.

    Example:
        >>> pack([7, 7, 3], 10, strategy="ffd").num_bins
        2
    """
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)):
        raise TypeError(f"capacity: expected an int, got {type(capacity).__name__}")
    arr = _int64(lengths, "lengths")
    bin_ptr, seq, offset, length = _core.pack(arr, int(capacity), strategy, overflow)
    return Packing(int(capacity), bin_ptr, seq, offset, length)


def balance(
    workloads: Sequence[int] | np.ndarray,
    k: int,
    method: str = "karmarkar_karp",
    equal_size: bool = False,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Split items into ``k`` partitions with near-equal workload sums.

    Args:
        workloads: (n,) non-negative integers (e.g. tokens per micro-batch, or
            a cost such as sum of squared lengths).
        k: number of partitions (data-parallel ranks).
        method: ``"karmarkar_karp"`` (largest differencing, verl's default) or
            ``"greedy"`` (largest first to the lightest partition).
        equal_size: every partition gets exactly ``n / k`` items (``k`` must
            divide ``n``), as verl's ``equal_size=True``.

    Returns:
        ``(partitions, sums)``: ``k`` int64 arrays of item indices (ascending)
        and their (k,) workload sums.

    Example:
        >>> parts, sums = balance([8, 7, 6, 5, 4, 4], 2)
        >>> sorted(sums.tolist())
        [17, 17]
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an int, got {type(k).__name__}")
    w = _int64(workloads, "workloads")
    parts = _core.balance(w, int(k), method, bool(equal_size))
    sums = np.array([int(w[p].sum()) for p in parts], dtype=np.int64)
    return parts, sums


def collate_packed(
    sequences: Sequence[Sequence[int] | np.ndarray],
    packing: Packing,
    prompt_lengths: Sequence[int] | np.ndarray | None = None,
    *,
    return_tensors: Literal["np", "pt"] | None = None,
) -> list[dict[str, Any]]:
    """Model inputs for each bin of ``packing``, ready for a padding-free forward.

    Args:
        sequences: the token ids of every sequence ``packing`` was made for.
        packing: from :func:`pack` on these sequences' lengths.
        prompt_lengths: (n,) prompt tokens at the start of each sequence (at
            most the sequence's length); their labels are -100.
        return_tensors: ``None``: the dicts described below. ``"pt"`` (torch
            tensors) or ``"np"``: exactly the keys Hugging Face models read for
            varlen attention, as ``transformers.DataCollatorWithFlattening``
            with ``return_flash_attn_kwargs=True`` writes them, so
            ``model(**batch)`` works: ``input_ids``, ``labels``,
            ``position_ids`` (1, L) int64, ``cu_seq_lens_q`` = ``cu_seq_lens_k``
            (pieces + 1,) int32, ``max_length_q`` = ``max_length_k`` int. The
            model must split rows at the boundaries (see
            :func:`postcouple.attention.require_varlen`).

    Returns:
        One dict per bin, with ``input_ids``, ``position_ids`` and ``labels`` of
        shape (1, L) int64 (position ids restart at 0 in each piece; labels are
        the input ids with -100 on prompt tokens and on each piece's first
        token — TRL's padding-free convention; unshifted, HF shifts), and
        ``cu_seqlens`` (pieces + 1,) int32, ``max_seqlen`` int, ``seq_lengths``
        and ``seq_indices`` (pieces,) int64, for varlen attention.

    Example:
        >>> (b,) = collate_packed([[1, 2, 3], [4, 5]], pack([3, 2], 8), return_tensors="np")
        >>> b["cu_seq_lens_q"].tolist(), b["max_length_q"], b["position_ids"].tolist()
        ([0, 3, 5], 3, [[0, 1, 2, 0, 1]])
    """
    if not isinstance(packing, Packing):
        raise TypeError(f"packing: expected a Packing from pack(), got {type(packing).__name__}")
    if return_tensors not in (None, "np", "pt"):
        raise ValueError(f"return_tensors: expected None, 'np' or 'pt', got {return_tensors!r}")
    arrs = [_int64(s, f"sequences[{i}]") for i, s in enumerate(sequences)]
    lens = np.fromiter((len(a) for a in arrs), dtype=np.int64, count=len(arrs))
    seq_ptr = np.zeros(len(arrs) + 1, dtype=np.int64)
    np.cumsum(lens, out=seq_ptr[1:])
    flat = np.concatenate(arrs) if arrs else np.zeros(0, dtype=np.int64)
    plen = None if prompt_lengths is None else _int64(prompt_lengths, "prompt_lengths")
    ids, pos, lab, tok_ptr = _core.collate(
        flat, seq_ptr, plen, packing.bin_ptr, packing.seq, packing.offset, packing.length
    )
    out = []
    for b in range(packing.num_bins):
        a, z = tok_ptr[b], tok_ptr[b + 1]
        p0, p1 = packing.bin_ptr[b], packing.bin_ptr[b + 1]
        sl = packing.length[p0:p1]
        cu = np.zeros(len(sl) + 1, dtype=np.int32)
        np.cumsum(sl, out=cu[1:])
        longest = int(sl.max()) if len(sl) else 0
        if return_tensors is not None:
            out.append(_hf_batch(ids[a:z][None], lab[a:z][None], pos[a:z][None], cu, longest))
            continue
        out.append(
            {
                "input_ids": ids[a:z][None],
                "position_ids": pos[a:z][None],
                "labels": lab[a:z][None],
                "cu_seqlens": cu,
                "max_seqlen": longest,
                "seq_lengths": sl.copy(),
                "seq_indices": packing.seq[p0:p1].copy(),
            }
        )
    if return_tensors == "pt":
        import torch  # only here: packing itself needs numpy alone

        for d in out:
            for k in ("input_ids", "labels", "position_ids", "cu_seq_lens_q"):
                d[k] = torch.from_numpy(d[k])
            d["cu_seq_lens_k"] = d["cu_seq_lens_q"]
    return out


def _hf_batch(
    ids: np.ndarray, labels: np.ndarray, pos: np.ndarray, cu: np.ndarray, longest: int
) -> dict[str, Any]:
    """One bin under the names HF's attention kwargs use (``FlashAttentionKwargs``)."""
    return {
        "input_ids": ids,  # (1, L) int64
        "labels": labels,  # (1, L) int64
        "position_ids": pos,  # (1, L) int64
        "cu_seq_lens_q": cu,  # (pieces + 1,) int32
        "cu_seq_lens_k": cu,
        "max_length_q": longest,
        "max_length_k": longest,
    }
