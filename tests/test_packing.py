"""postcouple.packing against the plain-Python references and the invariants."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postcouple.packing import Packing, balance, collate_packed, pack
from postcouple.reference import packing as ref

lengths_st = st.lists(st.integers(0, 60), max_size=120)


def pieces(p: Packing):
    return [
        list(zip(p.seq[a:b].tolist(), p.offset[a:b].tolist(), p.length[a:b].tolist()))
        for a, b in zip(p.bin_ptr[:-1], p.bin_ptr[1:])
    ]


@settings(max_examples=150, deadline=None)
@given(lengths_st, st.integers(1, 80))
def test_bfd_and_ffd_match_the_references(lengths, cap):
    lengths = [min(x, cap) for x in lengths]
    b = pack(lengths, cap, "bfd")
    f = pack(lengths, cap, "ffd")
    rb = ref.best_fit_decreasing(lengths, cap)
    rf = ref.first_fit_decreasing(lengths, cap)
    assert b.num_bins == len(rb)
    # FFD's assignment is fully determined: identical bins, identical order
    assert [x.tolist() for x in f.bins] == [sorted(b) for b in rf]
    for p in (b, f):
        seen = np.concatenate(p.bins) if p.num_bins else np.zeros(0, int)
        assert sorted(seen.tolist()) == list(range(len(lengths)))  # every index once
        assert (p.bin_tokens <= cap).all()
        assert p.num_bins >= math.ceil(sum(lengths) / cap)
    # FFD's bound (Dosa 2007): FFD <= 11/9 OPT + 6/9, with OPT >= the volume bound
    assert b.num_bins <= f.num_bins or b.num_bins <= 11 / 9 * max(1, f.num_bins) + 6 / 9


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 300), max_size=40),
    st.integers(1, 64),
    st.sampled_from(["bfd", "ffd", "wrapped"]),
)
def test_split_covers_every_token_once(lengths, cap, strategy):
    p = pack(lengths, cap, strategy, overflow="split")
    assert (p.bin_tokens <= cap).all()
    cover = [np.zeros(n, int) for n in lengths]
    for s, off, n in zip(p.seq, p.offset, p.length):
        cover[s][off : off + n] += 1
    assert all((c == 1).all() for c in cover)
    if strategy == "wrapped" and p.num_bins:
        assert (p.bin_tokens[:-1] == cap).all()  # only the last bin is partial


def test_truncate_and_error():
    p = pack([12, 3], 10, overflow="truncate")
    assert sorted(p.length.tolist()) == [3, 10]
    with pytest.raises(ValueError, match=r"lengths: sequence 0 has 12 tokens.*capacity 10"):
        pack([12, 3], 10)


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        (([1, 2], 0), ValueError, "capacity"),
        (([1, -2], 5), ValueError, r"lengths: must be >= 0.*index 1"),
        (([1.5, 2], 5), TypeError, "lengths: expected integers"),
        (([[1, 2]], 5), ValueError, "lengths: expected a 1-D"),
        (([1, 2], 5.0), TypeError, "capacity"),
        (([1, 2], 5, "best"), ValueError, "strategy"),
        (([1, 2], 5, "bfd", "drop"), ValueError, "overflow"),
    ],
)
def test_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        pack(*args)


def test_non_contiguous_input_is_copied():
    a = np.arange(20, dtype=np.int64)[::2] % 7
    assert pack(a, 10).num_bins == pack(a.copy(), 10).num_bins


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40), st.integers(1, 6), st.booleans())
def test_balance_matches_the_references(w, k, equal):
    equal = equal and len(w) % k == 0
    for method, f in (("karmarkar_karp", ref.karmarkar_karp), ("greedy", ref.greedy_partition)):
        parts, sums = balance(w, k, method, equal_size=equal)
        assert [p.tolist() for p in parts] == f(w, k, equal)
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(w)))
        assert sums.tolist() == [sum(w[i] for i in p) for p in parts]
        if equal:
            assert all(len(p) == len(w) // k for p in parts)


def test_balance_bad_input():
    with pytest.raises(ValueError, match="k"):
        balance([1, 2, 3], 0)
    with pytest.raises(ValueError, match="equal_size"):
        balance([1, 2, 3], 2, equal_size=True)
    with pytest.raises(ValueError, match="method"):
        balance([1, 2], 2, "lpt")
    with pytest.raises(ValueError, match="workloads"):
        balance([1, -2], 2)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 1000), max_size=30), min_size=1, max_size=25),
    st.integers(1, 40),
    st.sampled_from(["bfd", "wrapped"]),
    st.data(),
)
def test_collate_round_trips(seqs, cap, strategy, data):
    plens = [data.draw(st.integers(0, len(s))) for s in seqs]
    p = pack([len(s) for s in seqs], cap, strategy, overflow="split")
    batches = collate_packed(seqs, p, prompt_lengths=plens)
    assert len(batches) == p.num_bins
    rebuilt = [[None] * len(s) for s in seqs]
    for bi, b in enumerate(batches):
        a, z = p.bin_ptr[bi], p.bin_ptr[bi + 1]
        piece = list(zip(p.seq[a:z], p.offset[a:z], p.length[a:z]))
        ids, pos, lab = ref.collate(seqs, piece, plens)
        assert b["input_ids"][0].tolist() == ids
        assert b["position_ids"][0].tolist() == pos
        assert b["labels"][0].tolist() == lab
        assert b["cu_seqlens"].dtype == np.int32 and b["cu_seqlens"][-1] == len(ids)
        assert b["max_seqlen"] == (max(b["seq_lengths"]) if len(piece) else 0)
        cu = b["cu_seqlens"]
        for j, (s, off, n) in enumerate(piece):
            rebuilt[s][off : off + n] = b["input_ids"][0, cu[j] : cu[j + 1]].tolist()
    assert rebuilt == seqs


def test_collate_rejects_a_packing_of_other_sequences():
    p = pack([5, 5], 10)
    with pytest.raises(ValueError, match="packing"):
        collate_packed([[1, 2], [3]], p)
    with pytest.raises(TypeError, match="Packing"):
        collate_packed([[1]], [[0]])
    with pytest.raises(ValueError, match="prompt_lengths"):
        collate_packed([[1, 2], [3, 4, 5, 6, 7]], pack([2, 5], 10), prompt_lengths=[1])


def test_collate_for_hf_models():
    """``return_tensors``: HF's varlen names and dtypes (DataCollatorWithFlattening)."""
    seqs = [[1, 2, 3], [4, 5], [6]]
    p = pack([3, 2, 1], 4)
    plain = collate_packed(seqs, p, prompt_lengths=[1, 0, 0])
    hf = collate_packed(seqs, p, prompt_lengths=[1, 0, 0], return_tensors="np")
    keys = {"input_ids", "labels", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k"}
    for a, b in zip(plain, hf):
        assert set(b) == keys | {"max_length_q", "max_length_k"}
        for k in ("input_ids", "labels", "position_ids"):
            assert np.array_equal(b[k], a[k]) and b[k].dtype == np.int64 and b[k].ndim == 2
        assert np.array_equal(b["cu_seq_lens_q"], a["cu_seqlens"])
        assert b["cu_seq_lens_q"].dtype == np.int32
        assert b["max_length_q"] == b["max_length_k"] == a["max_seqlen"]
        assert isinstance(b["max_length_q"], int)
    torch = pytest.importorskip("torch")
    pt = collate_packed(seqs, p, prompt_lengths=[1, 0, 0], return_tensors="pt")
    for a, b in zip(hf, pt):
        assert set(b) == set(a)
        for k in keys:
            assert isinstance(b[k], torch.Tensor) and b[k].tolist() == a[k].tolist()
        assert b["input_ids"].dtype == torch.int64 and b["cu_seq_lens_k"].dtype == torch.int32
    with pytest.raises(ValueError, match="return_tensors"):
        collate_packed(seqs, p, return_tensors="tf")


def test_packing_imports_and_collates_with_numpy_only():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from postcouple.packing import pack, collate_packed\n"
        "b = collate_packed([[1, 2], [3]], pack([2, 1], 4), return_tensors='np')\n"
        "assert b[0]['cu_seq_lens_q'].tolist() == [0, 2, 3]\n"
        "try:\n"
        "    collate_packed([[1]], pack([1], 4), return_tensors='pt')\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_arguments_that_used_to_pass_silently():
    with pytest.raises(ValueError, match=r"method: expected 'karmarkar_karp' or 'greedy'"):
        balance([1, 2], 2, "kk")
    with pytest.raises(ValueError, match=r"prompt_lengths\[1\] = 3 is longer than sequence 1"):
        collate_packed([[1, 2], [3, 4]], pack([2, 2], 4), prompt_lengths=[2, 3])


def test_doctests():
    import doctest

    import postcouple.packing as P

    res = doctest.testmod(P, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 4
