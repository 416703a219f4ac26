"""postcouple.packing against TRL, seqpacker and plain Python, side by side.

Full size (``make bench``): 1M lengths, lognormal with median 300 (sigma 1),
clipped to the capacity 4096, one thread. Peers: TRL's
``pack_dataset(strategy="bfd")`` (the real package on an Arrow dataset of that
many sequences; skipped when trl/datasets are absent), ``seqpacker`` (PyPI, a
Rust packer; skipped when absent) and a plain-Python first-fit decreasing with
a max segment tree (O(n log bins), the fastest plain-Python FFD we could
write). Each bench asserts the bin count it got; ``test_bin_counts`` prints
them all beside the volume lower bound.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from benchutil import full, size
from postcouple.packing import balance, collate_packed, pack

CAP = 4096
N = size(2_000, 1_000_000)


def lognormal_lengths(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.lognormal(math.log(300), 1.0, n)), 1, CAP).astype(np.int64)


LENGTHS = lognormal_lengths(N)
LOWER = math.ceil(LENGTHS.sum() / CAP)


def python_ffd(lengths: list[int], cap: int) -> int:
    """First-fit decreasing in plain Python: a max segment tree over bins' room."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    size_ = 1
    while size_ < len(lengths):
        size_ *= 2
    tree = [cap] * (2 * size_)
    used = 0
    for i in order:
        need, node = lengths[i], 1
        while node < size_:
            node = 2 * node if tree[2 * node] >= need else 2 * node + 1
        used = max(used, node - size_ + 1)
        tree[node] -= need
        node //= 2
        while node:
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
            node //= 2
    return used


def trl_bfd(lengths: np.ndarray) -> int:
    import pyarrow as pa
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.array(np.zeros(int(offsets[-1]), dtype=np.int32))
    col = pa.ListArray.from_arrays(pa.array(offsets), values)
    ds = Dataset(pa.table({"input_ids": col}))
    return len(pack_dataset(ds, seq_length=CAP, strategy="bfd"))


HAVE_TRL = all(importlib.util.find_spec(m) for m in ("trl", "datasets", "pyarrow"))
HAVE_SEQPACKER = importlib.util.find_spec("seqpacker") is not None


@pytest.mark.benchmark(group="pack-1M")
def test_postcouple_bfd(benchmark):
    p = benchmark(pack, LENGTHS, CAP, "bfd")
    assert p.num_bins >= LOWER and (p.bin_tokens <= CAP).all()


@pytest.mark.benchmark(group="pack-1M")
def test_postcouple_ffd(benchmark):
    p = benchmark(pack, LENGTHS, CAP, "ffd")
    assert p.num_bins >= LOWER


@pytest.mark.benchmark(group="pack-1M")
def test_python_ffd(benchmark, bench_once):
    bins = bench_once(benchmark, python_ffd, LENGTHS.tolist(), CAP)
    assert bins == pack(LENGTHS, CAP, "ffd").num_bins  # same algorithm, same answer


@pytest.mark.skipif(not HAVE_SEQPACKER, reason="seqpacker not installed")
@pytest.mark.benchmark(group="pack-1M")
def test_seqpacker_obfd(benchmark):
    import seqpacker

    r = benchmark(seqpacker.pack_sequences, LENGTHS, CAP, "obfd")
    assert r.num_bins >= LOWER


@pytest.mark.skipif(not HAVE_TRL, reason="trl/datasets not installed")
@pytest.mark.benchmark(group="pack-1M")
def test_trl_pack_dataset_bfd(benchmark, bench_once):
    bins = bench_once(benchmark, trl_bfd, LENGTHS)
    assert bins >= pack(LENGTHS, CAP, "bfd").num_bins  # never fewer bins than ours


def test_bin_counts():
    """Bin counts side by side (printed with -s); ours is never above a peer's."""
    ours = pack(LENGTHS, CAP, "bfd").num_bins
    row = {
        "lower bound": LOWER,
        "postcouple bfd": ours,
        "postcouple ffd": pack(LENGTHS, CAP, "ffd").num_bins,
    }
    if HAVE_SEQPACKER:
        import seqpacker

        row["seqpacker obfd"] = seqpacker.pack_sequences(LENGTHS, CAP, "obfd").num_bins
    if HAVE_TRL and not full():  # at full size the TRL bench reports it
        row["trl bfd"] = trl_bfd(LENGTHS)
    print(row)
    assert ours == min(v for k, v in row.items() if k != "lower bound")


@pytest.mark.benchmark(group="balance")
def test_balance_kk(benchmark):
    w = lognormal_lengths(size(256, 8192), seed=1)
    parts, sums = benchmark(balance, w, 8)
    assert sums.max() - sums.min() <= w.max()


@pytest.mark.benchmark(group="collate")
def test_collate(benchmark):
    n = size(500, 50_000)
    lengths = lognormal_lengths(n, seed=2)
    seqs = [np.arange(x, dtype=np.int64) for x in lengths]
    p = pack(lengths, CAP)
    out = benchmark(collate_packed, seqs, p, np.minimum(lengths, 50))
    assert sum(b["input_ids"].shape[1] for b in out) == lengths.sum()
