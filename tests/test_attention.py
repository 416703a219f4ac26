"""postcouple.attention (``sdpa_varlen``) against HF's own sdpa as the oracle.

HF's "sdpa" implementation attends over a packed row under the block-diagonal
mask it builds from restarting position ids: slow (O(row²)) but a correct,
independent reference for values and gradients.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import postcouple.attention as A  # noqa: E402
from postcouple.models import TinySize, load_model_and_tokenizer  # noqa: E402


def _segments_oracle(pos):
    out = []
    for row in pos.tolist():
        spans, a = [], 0
        for t in range(1, len(row)):
            if row[t] != row[t - 1] + 1:
                spans.append((a, t))
                a = t
        spans.append((a, len(row)))
        out.append(spans)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=6), min_size=1, max_size=3))
def test_segments_match_a_python_loop(rows):
    width = max(sum(r) for r in rows)
    pos = []
    for r in rows:
        p = [t for n in r for t in range(n)]
        p += list(range(width - len(p)))  # pad the row with one more sequence
        pos.append(p[:width])
    pos = torch.tensor(pos)
    got = A.segments(pos)
    want = _segments_oracle(pos)
    if all(len(s) == 1 for s in want):
        assert got is None
    else:
        assert got == want


def test_plan_is_cached_per_tensor_version_and_slack(monkeypatch):
    pos = torch.tensor([[0, 1, 0, 1, 2]])
    first = A._plan(pos)
    assert A._plan(pos) is first  # the next layer of the same forward: no rebuild
    assert [p for p in first[0] if len(p) == 2] == [(2, 5), (0, 2)]
    pos[0, 2] = 2  # in place: the version changes, the cache must not answer
    assert A._plan(pos) == [[(0, 3), (3, 5)]]
    monkeypatch.setattr(A, "BUCKET_SLACK", 2.0)  # another slack: rebuilt, one bucket
    (bucket,) = A._plan(pos)[0]
    idx, keep, dst = bucket
    assert idx.tolist() == [[0, 1, 2], [3, 4, 4]] and dst.tolist() == [0, 1, 2, 3, 4]


def _models(seed=0, **kw):
    sizes = TinySize(hidden_size=32, intermediate_size=64, **kw)
    a, tok = load_model_and_tokenizer("tiny", seed=seed, tiny=sizes, attn_implementation="sdpa")
    b, _ = load_model_and_tokenizer(
        "tiny", seed=seed, tiny=sizes, attn_implementation="sdpa_varlen"
    )
    return a, b, tok


def _packed_row(lengths, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (1, sum(lengths)), generator=g)
    pos = torch.cat([torch.arange(n) for n in lengths])[None]
    return ids, pos


@pytest.mark.parametrize("slack", [1.0, 1.3, 3.0])
@pytest.mark.parametrize(
    "lengths",
    [[5, 9, 1, 7, 7, 7, 2, 30], [1, 1, 1], [12], [40, 39, 38, 3, 3]],
    ids=["mixed", "ones", "single", "near-equal"],
)
def test_packed_forward_and_gradients_equal_hf_sdpa(monkeypatch, slack, lengths):
    monkeypatch.setattr(A, "BUCKET_SLACK", slack)
    ref, var, tok = _models()
    ids, pos = _packed_row(lengths, len(tok), seed=len(lengths))
    la = ref(input_ids=ids, position_ids=pos, use_cache=False).logits  # (1, T, V)
    lb = var(input_ids=ids, position_ids=pos, use_cache=False).logits
    torch.testing.assert_close(lb, la, rtol=1e-5, atol=1e-5)
    (la.square().mean()).backward()
    (lb.square().mean()).backward()
    for (name, pa), pb in zip(ref.named_parameters(), var.parameters()):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_two_packed_rows_and_gqa_groups():
    ref, var, tok = _models(num_attention_heads=4, num_key_value_heads=1)
    ids = torch.randint(3, len(tok), (2, 12), generator=torch.Generator().manual_seed(1))
    pos = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4], list(range(12))])
    with torch.no_grad():
        la = ref(input_ids=ids, position_ids=pos, use_cache=False).logits
        lb = var(input_ids=ids, position_ids=pos, use_cache=False).logits
    torch.testing.assert_close(lb, la, rtol=1e-5, atol=1e-5)


def test_each_packed_sequence_equals_it_run_alone():
    _, var, tok = _models()
    lengths = [6, 11, 6, 3]
    ids, pos = _packed_row(lengths, len(tok), seed=3)
    with torch.no_grad():
        packed = var(input_ids=ids, position_ids=pos, use_cache=False).logits[0]
        a = 0
        for n in lengths:
            alone = var(input_ids=ids[:, a : a + n]).logits[0]
            torch.testing.assert_close(packed[a : a + n], alone, rtol=1e-5, atol=1e-5)
            a += n


def test_padded_batches_and_generation_are_hf_sdpa():
    ref, var, tok = _models()
    enc = tok(["12+3=", "7*8=", "100-1="], return_tensors="pt", padding=True)  # left pad
    with torch.no_grad():
        la = ref(**enc).logits
        lb = var(**enc).logits
    keep = enc["attention_mask"].bool()
    torch.testing.assert_close(lb[keep], la[keep], rtol=1e-5, atol=1e-5)
    ga = ref.generate(**enc, do_sample=False, max_new_tokens=8)
    gb = var.generate(**enc, do_sample=False, max_new_tokens=8)
    assert torch.equal(ga, gb)


def test_mask_function_keeps_hf_masks_where_they_matter():
    # no padding mask, no cache: the attention function handles packing itself
    assert A.sdpa_varlen_mask(1, 8, 8, attention_mask=None) is None
    # a padding mask: HF's sdpa mask
    att = torch.tensor([[0, 1, 1, 1]], dtype=torch.bool)
    m = A.sdpa_varlen_mask(1, 4, 4, attention_mask=att)
    assert m is not None and m.shape == (1, 1, 4, 4)
    assert not bool(m[0, 0, 3, 0]) and bool(m[0, 0, 3, 1])


def test_registered_name_loads():
    model, _ = load_model_and_tokenizer("tiny", attn_implementation="sdpa_varlen")
    assert model.config._attn_implementation == "sdpa_varlen"
    assert A.register() == "sdpa_varlen"  # idempotent


def test_doctests():
    import doctest

    res = doctest.testmod(A, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 3 and res.failed == 0


def test_from_pretrained_path_takes_the_registered_name(tmp_path):
    # the real loading path (AutoModelForCausalLM.from_pretrained), on a saved tiny model
    model, tok = load_model_and_tokenizer("tiny")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, _ = load_model_and_tokenizer(str(tmp_path))
    assert loaded.config._attn_implementation == "sdpa_varlen"
    ids, pos = torch.tensor([[5, 6, 7, 8, 9]]), torch.tensor([[0, 1, 2, 0, 1]])
    with torch.no_grad():
        packed = loaded(input_ids=ids, position_ids=pos, use_cache=False).logits[0, 3:]
        alone = loaded(input_ids=ids[:, 3:], use_cache=False).logits[0]
    torch.testing.assert_close(packed, alone, rtol=1e-5, atol=1e-5)


# --- packed rows into stock HF attention: the wrong loss, and the guard ------------


@pytest.mark.parametrize("attn", ["sdpa", "eager", "sdpa_varlen"])
def test_packed_rows_need_varlen_attention_and_the_guard_says_so(attn):
    """``model(**batch)`` on a packed row, as a user of HF models writes it: under
    ``sdpa``/``eager`` (default ``use_cache``: a KV cache exists, so HF does not
    look for packed sequences) the sequences attend across their boundaries and
    the loss differs from the per-sequence loss; ``require_varlen`` rejects
    those models and passes ``sdpa_varlen``, whose loss is the per-sequence one."""
    from postcouple.packing import collate_packed, pack

    model, _ = load_model_and_tokenizer(
        "tiny",
        seed=0,
        tiny=TinySize(hidden_size=32, intermediate_size=64),
        attn_implementation=attn,
    )
    seqs = [[5, 6, 7, 8, 9, 10], [11, 12, 13, 14], [15, 16, 17, 18, 19, 20, 21]]
    plens = [2, 1, 3]
    (batch,) = collate_packed(seqs, pack([len(s) for s in seqs], 64), plens, return_tensors="pt")
    with torch.no_grad():
        packed = float(model(**batch).loss)
        # the oracle: each sequence alone, token-weighted as the packed mean is
        total, n = 0.0, 0
        for s, p in zip(seqs, plens):
            ids = torch.tensor([s])
            labels = ids.clone()
            labels[0, : max(p, 1)] = -100
            k = int((labels[0, 1:] != -100).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * k
            n += k
    want = total / n
    if attn == "sdpa_varlen":
        assert A.require_varlen(model) == "sdpa_varlen"
        assert packed == pytest.approx(want, rel=1e-5)
    else:
        assert abs(packed - want) > 1e-3  # silently wrong: no error, another number
        with pytest.raises(ValueError, match=rf"model: attention '{attn}'.*sdpa_varlen"):
            A.require_varlen(model)


def test_require_varlen_names():
    class Cfg:
        _attn_implementation = "flash_attention_2"

    class M:
        config = Cfg()

    class Wrapped:  # DDP-style
        module = M()

    assert A.require_varlen(M()) == "flash_attention_2"
    assert A.require_varlen(Wrapped()) == "flash_attention_2"
    Cfg._attn_implementation = "kernels-community/flash-attn"
    assert A.require_varlen(M()) == "kernels-community/flash-attn"
    Cfg._attn_implementation = "flex_attention"
    with pytest.raises(ValueError, match="flex_attention"):
        A.require_varlen(M())
    with pytest.raises(ValueError, match="cannot tell"):
        A.require_varlen(object())
