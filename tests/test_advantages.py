"""postcouple.advantages against the numpy references (postcouple.reference.advantages).

Three layers: hypothesis property tests against the option-complete references
(``ref_*``); the compat presets against each peer restated in numpy (and
against the real verl functions when verl imports); bad input.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import postcouple.advantages as A
from postcouple import _core
from postcouple.reference import advantages as R
from postcouple.rewards import combine
from postcouple.rewards.combine import combine_rewards
from verl_import import import_verl

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def close(got, want, rtol=1e-6, atol=1e-9):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=rtol, atol=atol)


# --- strategies -------------------------------------------------------------

# multiples of 1/8: group sums are exact, so "all-equal" groups centre to
# exactly 0 in every implementation and 1/eps cannot magnify rounding.
_vals = st.sampled_from([-1.0, 0.0, 0.0, 0.125, 0.5, 1.0, 1.0, 2.75, 3.0, float("nan")])


@st.composite
def batches(draw, min_group=1, nan=True):
    sizes = draw(st.lists(st.integers(min_group, 6), min_size=1, max_size=7))
    uniform = draw(st.booleans())
    if uniform:
        sizes = [sizes[0]] * len(sizes)
    n = sum(sizes)
    vals = _vals if nan else _vals.filter(lambda x: x == x)
    r = np.array(draw(st.lists(vals, min_size=n, max_size=n)), dtype=np.float64)
    ids = np.repeat(np.arange(len(sizes)) * 7 - 3, sizes)
    if draw(st.booleans()):
        perm = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(n)
        ids = ids[perm]
    groups = {"group_size": sizes[0]} if uniform and draw(st.booleans()) else {"index": ids}
    members = R.group_members(n, **groups)
    return r, groups, members


_opts = st.fixed_dictionaries(
    {
        "singleton": st.sampled_from(["zero", "no_baseline", "formula"]),
        "nan": st.sampled_from(["ignore", "propagate"]),
        "equal_groups": st.sampled_from(["zero", "formula"]),
    }
)


# --- estimators vs references -----------------------------------------------


@SETTINGS
@given(batches(), _opts, st.sampled_from(["group", "batch", "none"]),
       st.sampled_from([1e-6, 1e-4, 1e-9, 0.5]), st.booleans())  # fmt: skip
def test_grpo_matches_reference(b, o, scale, eps, unbiased):
    r, groups, members = b
    got = A.grpo(r, **groups, scale=scale, eps=eps, unbiased_std=unbiased, **o)
    want = R.ref_grpo(r, members, scale=scale, eps=eps, unbiased_std=unbiased, **o)
    close(got, want)


@SETTINGS
@given(batches(), _opts)
def test_rloo_mean_baseline_opo_gpg_match_reference(b, o):
    r, groups, members = b
    close(A.rloo(r, **groups, **o), R.ref_rloo(r, members, **o))
    lens = np.arange(1, len(r) + 1, dtype=np.float64) % 5 + 1
    close(A.opo(r, lens, **groups, **o), R.ref_opo(r, lens, members, **o))
    close(A.gpg(r, **groups, f_norm=2.0, **o), R.ref_gpg(r, members, f_norm=2.0, **o))


@SETTINGS
@given(batches(min_group=2), st.booleans(), st.sampled_from(["ignore", "propagate"]))
def test_passk_matches_reference(b, normalize, nan):
    r, groups, members = b
    got = A.grpo_passk(r, **groups, norm_adv_by_std_in_grpo=normalize, nan=nan)
    close(got, R.ref_passk(r, members, normalize=normalize, nan=nan))


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 9), st.integers(0, 2**16), st.booleans(),
       st.sampled_from([1.0, 0.9]), st.sampled_from([1.0, 0.95]))  # fmt: skip
def test_token_level_functions_match_reference(B, T, seed, skip, gamma, lam):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(B, T))
    v = rng.normal(size=(B, T))
    m = (rng.random((B, T)) < 0.7).astype(np.int64)
    m[0, 0] = m[-1, -1] = 1  # at least 2 valid tokens (unbiased whitening needs them)
    if B * T < 2:
        return
    adv, ret = A.gae(r, v, m, gamma=gamma, lam=lam, whiten=False, skip_masked=skip)
    want_a, want_r = R.ref_gae(r, v, m, gamma, lam, skip_masked=skip)
    close(adv, want_a)
    close(ret, want_r)
    adv_w, _ = A.gae(r, v, m, gamma=gamma, lam=lam, skip_masked=skip)
    close(adv_w, R.ref_masked_whiten(want_a, m) * (m != 0))
    got_a, got_r = A.reinforce_pp(r, m, gamma=gamma, skip_masked=skip)
    want = R.ref_discounted_returns(r, m, gamma, skip_masked=skip)
    close(got_r, want)
    close(got_a, R.ref_masked_whiten(want, m) * (m != 0))
    for unb, clamp in [(True, False), (False, True)]:
        close(A.masked_whiten(v, m, unbiased=unb, clamp=clamp, eps=1e-3),
              R.ref_masked_whiten(v, m, unbiased=unb, clamp=clamp, eps=1e-3))  # fmt: skip
    close(A.masked_whiten(v, m, shift_mean=False), R.ref_masked_whiten(v, m, shift_mean=False))
    seq = rng.normal(size=B)
    close(A.to_token_level(seq, m), R.ref_to_token_level(seq, m))
    base = rng.normal(size=B)
    ra, rr = A.remax(r, base, m)
    va, vr = R.verl_remax(r, base, m)
    close(ra, va * (m != 0))
    close(rr, vr * (m != 0))


def test_reinforce_pp_baseline_matches_reference():
    rng = np.random.default_rng(0)
    for G in (1, 2, 5):
        r = rng.integers(0, 3, size=G * 6).astype(np.float64)
        m = (rng.random((G * 6, 7)) < 0.8).astype(np.int64)
        m[:, 0] = 1
        members = R.group_members(len(r), group_size=G)
        seq = R.ref_mean_baseline(r, members)
        want = R.ref_masked_whiten(seq[:, None] * m, m) * m
        close(A.reinforce_pp_baseline(r, m, group_size=G), want)


def test_nan_rewards_are_left_out_of_reinforce_pp_baseline_whitening():
    r = np.array([1.0, np.nan, 0.0, 2.0])
    m = np.ones((4, 3), dtype=bool)
    got = A.reinforce_pp_baseline(r, m, group_size=2)
    assert np.all(got[1] == 0)
    seq = np.array([0.0, 0.0, -1.0, 1.0])
    keep = np.ones((4, 3))
    keep[1] = 0
    close(got, R.ref_masked_whiten(seq[:, None] * keep, keep) * keep)


# --- the compat presets vs the peers ------------------------------------------


def _rand_groups(rng, ng, G, nan_frac=0.0):
    r = rng.integers(0, 4, size=ng * G).astype(np.float64) * 0.5 + rng.normal(size=ng * G) * (
        rng.random(ng * G) < 0.5
    )
    r[rng.random(ng * G) < nan_frac] = np.nan
    return r


@pytest.mark.parametrize("G", [1, 2, 3, 8])
def test_compat_verl(G):
    rng = np.random.default_rng(G)
    r = _rand_groups(rng, 9, G)
    uid = np.array([f"uid-{i}" for i in rng.permutation(9)]).repeat(G)
    perm = rng.permutation(len(r))
    r, uid = r[perm], uid[perm]
    for norm in (True, False):
        got = A.grpo(r, index=uid, scale="group" if norm else "none", compat="verl")
        close(got, R.verl_grpo(r, uid, norm_adv_by_std_in_grpo=norm))
    close(A.rloo(r, index=uid, compat="verl"), R.verl_rloo(r, uid))
    lens = rng.integers(1, 50, size=len(r)).astype(np.float64)
    close(A.opo(r, lens, index=uid, compat="verl"), R.verl_opo(r, lens, uid))
    close(A.gpg(r, index=uid, compat="verl"), R.verl_gpg(r, uid))
    if G > 1:
        close(A.grpo_passk(r, index=uid, compat="verl"), R.verl_passk(r, uid))
    m = (np.arange(11)[None, :] < rng.integers(1, 12, size=len(r))[:, None]).astype(np.float32)
    close(A.reinforce_pp_baseline(r, m, index=uid, compat="verl"),
          R.verl_reinforce_pp_baseline(r, m, uid), rtol=1e-6, atol=1e-7)  # fmt: skip


def test_compat_verl_token_level_with_observation_holes():
    rng = np.random.default_rng(1)
    r = rng.normal(size=(6, 12))
    v = rng.normal(size=(6, 12))
    m = (rng.random((6, 12)) < 0.75).astype(np.float64)
    m[:, 0] = 1
    valid = m != 0
    adv, ret = A.gae(r, v, m, gamma=0.99, lam=0.95, compat="verl")
    wa, wr = R.verl_gae(r, v, m, 0.99, 0.95)
    close(adv[valid], wa[valid], atol=1e-7)
    close(ret[valid], wr[valid])
    assert np.all(adv[~valid] == 0) and np.all(ret[~valid] == 0)
    adv, ret = A.reinforce_pp(r, m, gamma=0.9, compat="verl")
    wa, wr = R.verl_reinforce_pp(r, m, 0.9)
    close(adv, wa, atol=1e-7)
    close(ret, wr)


@pytest.mark.parametrize("G", [1, 2, 4])
@pytest.mark.parametrize("nan_frac", [0.0, 0.3])
def test_compat_trl(G, nan_frac):
    rng = np.random.default_rng(10 * G + int(nan_frac * 10))
    r = _rand_groups(rng, 8, G, nan_frac)
    for scale in ("group", "batch", "none"):
        close(A.grpo(r, group_size=G, scale=scale, compat="trl"), R.trl_grpo(r, G, scale))
    close(A.rloo(r, group_size=G, compat="trl"), R.trl_rloo(r, G))
    K = 3
    Rk = rng.normal(size=(8 * G, K))
    Rk[rng.random(Rk.shape) < nan_frac] = np.nan
    w = np.array([1.0, 0.5, 2.0])
    comb = combine_rewards(Rk, w, mode="normalize_then_sum", group_size=G)
    adv = A.grpo(comb, index=np.zeros(len(comb), np.int64), compat="trl")
    close(adv, R.trl_normalize_then_sum(Rk, w, G))
    s = combine_rewards(Rk, w)
    unsc = np.isnan(Rk).all(axis=1)
    close(s[~unsc], np.nansum(Rk * w, axis=1)[~unsc])
    assert np.isnan(s[unsc]).all()


@pytest.mark.parametrize("G", [1, 2, 5])
def test_compat_openrlhf(G):
    rng = np.random.default_rng(G + 100)
    r = _rand_groups(rng, 7, G)
    with np.errstate(all="ignore"):
        close(A.grpo(r, group_size=G, compat="openrlhf"), R.openrlhf_group(r, G, "group_norm"))
        close(A.grpo(r, group_size=G, scale="none", compat="openrlhf"),
              R.openrlhf_group(r, G, "dr_grpo"))  # fmt: skip
        close(A.rloo(r, group_size=G, compat="openrlhf"), R.openrlhf_group(r, G, "rloo"))
    # reinforce_baseline: shaped reward at the last token, gamma 1 returns, batch whitening
    T = 9
    lens = rng.integers(1, T + 1, size=len(r))
    m = (np.arange(T)[None, :] < lens[:, None]).astype(np.float64)
    valid = m != 0
    shaped = R.openrlhf_group(r, G, "reinforce_baseline")
    tok = np.zeros_like(m)
    tok[np.arange(len(r)), lens - 1] = shaped
    want = R.openrlhf_whiten(R.openrlhf_cumulative_returns(tok, m, 1.0), m)
    got = A.reinforce_pp_baseline(r, m, group_size=G, compat="openrlhf")
    close(got[valid], want[valid], atol=1e-7)
    got2 = A.compute_advantages("reinforce_pp", shaped, m, compat="openrlhf")
    close(got2[valid], want[valid], atol=1e-7)
    # GAE: zeroed values, no skipping, whitened with the plain variance
    rr = rng.normal(size=(len(r), T)) * m
    v = rng.normal(size=(len(r), T))
    adv, ret = A.gae(rr, v, m, gamma=0.9, lam=0.8, compat="openrlhf")
    wa, wr = R.openrlhf_gae(v, rr, m, 0.9, 0.8)
    close(adv[valid], R.openrlhf_whiten(wa, m)[valid], atol=1e-7)
    close(ret[valid], wr[valid])


def _import_verl():
    return import_verl("verl.trainer.ppo.core_algos")


@pytest.fixture(scope="module")
def verl_algos():
    core_algos = _import_verl()
    if core_algos is None:
        pytest.skip("verl is not importable here (pip install --no-deps verl + light deps)")
    import torch

    torch.set_num_threads(1)
    return core_algos


class _Cfg(dict):
    """verl reads some options with config.get(...) and others as attributes."""

    __getattr__ = dict.get


@pytest.mark.parametrize("G", [1, 2, 4])
def test_against_real_verl_group_estimators(verl_algos, G):
    import torch

    rng = np.random.default_rng(3 + G)
    ng, T = 6, 5
    r = _rand_groups(rng, ng, G)
    uid = np.array([f"u{i}" for i in rng.permutation(ng)], dtype=object).repeat(G)
    perm = rng.permutation(len(r))
    r, uid = r[perm], uid[perm]
    lens = rng.integers(1, T + 1, size=len(r))
    m = torch.from_numpy((np.arange(T)[None, :] < lens[:, None]).astype(np.float64))
    valid = m.numpy() != 0
    tok = torch.zeros(len(r), T, dtype=torch.float64)
    tok[:, 0] = torch.from_numpy(r)  # verl sums the token rewards per sequence
    cfg = _Cfg(norm_adv_by_std_in_grpo=True, gamma=0.9)

    def seq(fn, **k):
        out, _ = fn(tok.clone(), m, uid, **k)
        return out.numpy()

    for norm in (True, False):
        want = seq(verl_algos.compute_grpo_outcome_advantage, norm_adv_by_std_in_grpo=norm)
        got = A.grpo(r, index=uid, scale="group" if norm else "none", compat="verl")
        close(A.to_token_level(got, valid), want)
    close(A.to_token_level(A.rloo(r, index=uid, compat="verl"), valid),
          seq(verl_algos.compute_rloo_outcome_advantage))  # fmt: skip
    close(A.to_token_level(A.rloo(r, index=uid, compat="verl", singleton="zero"), valid),
          seq(verl_algos.compute_rloo_vectorized_outcome_advantage))  # fmt: skip
    close(A.to_token_level(A.opo(r, lens, index=uid, compat="verl"), valid),
          seq(verl_algos.compute_opo_outcome_advantage))  # fmt: skip
    close(A.to_token_level(A.gpg(r, index=uid, compat="verl"), valid),
          seq(verl_algos.compute_gpg_outcome_advantage))  # fmt: skip
    if G > 1:
        close(A.to_token_level(A.grpo_passk(r, index=uid, compat="verl"), valid),
              seq(verl_algos.compute_grpo_passk_outcome_advantage, config=cfg))  # fmt: skip
    want = seq(verl_algos.compute_reinforce_plus_plus_baseline_outcome_advantage)
    close(A.reinforce_pp_baseline(r, m, index=uid, compat="verl"), want, atol=1e-7)


def test_against_real_verl_token_level(verl_algos):
    import torch

    rng = np.random.default_rng(11)
    B, T = 7, 10
    r = torch.from_numpy(rng.normal(size=(B, T)))
    v = torch.from_numpy(rng.normal(size=(B, T)))
    m = torch.from_numpy((rng.random((B, T)) < 0.8).astype(np.float64))
    m[:, 0] = 1
    valid = m.numpy() != 0
    wa, wr = verl_algos.compute_gae_advantage_return(r, v, m, 0.99, 0.95)
    ga, gr = A.gae(r, v, m, gamma=0.99, lam=0.95, compat="verl")
    close(ga.numpy()[valid], wa.numpy()[valid], atol=1e-7)
    close(gr.numpy()[valid], wr.numpy()[valid])
    wa, wr = verl_algos.compute_reinforce_plus_plus_outcome_advantage(r, m, config=_Cfg(gamma=0.9))
    ga, gr = A.reinforce_pp(r, m, gamma=0.9, compat="verl")
    close(ga.numpy(), wa.numpy(), atol=1e-7)
    close(gr.numpy(), wr.numpy())
    base = torch.from_numpy(rng.normal(size=B))
    wa, wr = verl_algos.compute_remax_outcome_advantage(r, base, m)
    ga, gr = A.remax(r, base, m)
    close(ga.numpy(), wa.numpy() * valid)
    close(gr.numpy(), wr.numpy() * valid)
    import verl.utils.torch_functional as verl_F

    close(A.masked_whiten(v, m, compat="verl").numpy(), verl_F.masked_whiten(v, m).numpy())


# --- groups, dtypes, torch, parallel ------------------------------------------


def test_index_forms_agree():
    rng = np.random.default_rng(5)
    r = rng.normal(size=24)
    want = A.grpo(r, group_size=4)
    ids = np.arange(24) // 4
    perm = rng.permutation(24)
    for idx in (ids, ids.astype(np.int32), [f"p{i}" for i in ids], list(ids * 1.5)):
        close(A.grpo(r, index=idx), want)
        shuffled = A.grpo(r[perm], index=np.asarray(idx, dtype=object)[perm])
        close(shuffled[np.argsort(perm)], want)


def test_float32_kept_and_accurate():
    rng = np.random.default_rng(6)
    r = rng.normal(size=64).astype(np.float32)
    out = A.grpo(r, group_size=8)
    assert out.dtype == np.float32
    close(out, A.grpo(r.astype(np.float64), group_size=8), rtol=1e-5, atol=1e-6)
    m = np.ones((64, 3), dtype=bool)
    assert A.compute_advantages("rloo", r, m, group_size=8).dtype == np.float32
    assert A.grpo(np.arange(8), group_size=4).dtype == np.float64


def test_parallel_is_bit_identical():
    rng = np.random.default_rng(7)
    r = rng.normal(size=200_000)
    for fn in (A.grpo, A.rloo):
        assert np.array_equal(
            fn(r, group_size=8, parallel=True), fn(r, group_size=8, parallel=False)
        )
    idx = rng.permutation(200_000) // 8
    assert np.array_equal(A.grpo(r, index=idx, parallel=True), A.grpo(r, index=idx, parallel=False))
    tr = rng.normal(size=(4000, 64))
    v = rng.normal(size=(4000, 64))
    m = rng.random((4000, 64)) < 0.9
    a1, r1 = A.gae(tr, v, m, gamma=0.99, lam=0.95, parallel=True)
    a0, r0 = A.gae(tr, v, m, gamma=0.99, lam=0.95, parallel=False)
    assert np.array_equal(a1, a0) and np.array_equal(r1, r0)


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    for dt in (torch.float32, torch.float64, torch.bfloat16):
        r = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 0.0], dtype=dt)
        out = A.grpo(r, group_size=2)
        assert isinstance(out, torch.Tensor) and out.dtype == dt and out.device == r.device
        close(out.double().numpy(), A.grpo(r.double().numpy(), group_size=2), rtol=1e-2, atol=1e-2)
        m = torch.ones(6, 4, dtype=torch.bool)
        tok = A.compute_advantages("grpo", r, m, group_size=2)
        assert tok.shape == (6, 4) and tok.dtype == dt
    a, ret = A.gae(torch.zeros(2, 3), torch.ones(2, 3), torch.ones(2, 3), gamma=1.0, lam=1.0)
    assert isinstance(a, torch.Tensor) and isinstance(ret, torch.Tensor)


@pytest.mark.parametrize("est", A.ESTIMATORS)
def test_compute_advantages_every_estimator(est):
    rng = np.random.default_rng(8)
    B, T, G = 12, 6, 3
    r = rng.integers(0, 2, size=B).astype(np.float64)
    r[0] = 1.0
    m = np.arange(T)[None, :] < rng.integers(2, T + 1, size=B)[:, None]
    out = A.compute_advantages(est, r, m, group_size=G)
    assert out.shape == (B, T) and out.dtype == np.float64
    assert np.all(out[~m] == 0)
    if est in ("grpo", "rloo", "gpg", "grpo_passk"):
        seq = getattr(A, est)(r, group_size=G)
        close(out, seq[:, None] * m)
    if est == "dr_grpo":
        close(out, A.grpo(r, group_size=G, scale="none")[:, None] * m)
    if est == "opo":
        close(out, A.opo(r, m.sum(1), group_size=G)[:, None] * m)
    if est == "reinforce_pp":
        tok = np.zeros((B, T))
        tok[np.arange(B), m.sum(1) - 1] = r
        close(out, A.reinforce_pp(tok, m)[0])


def test_doctests():
    res = doctest.testmod(A, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 5
    res = doctest.testmod(combine, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_one_registry_of_names():
    """The Python registry and the Rust core know the same estimators, and
    every option of a registry function is accepted by compute_advantages."""
    assert tuple(A.ESTIMATOR_REGISTRY) == A.ESTIMATORS == _core.ESTIMATORS
    with pytest.raises(TypeError, match="gamma"):
        A.compute_advantages("grpo", np.zeros(2), np.ones((2, 2)), group_size=2, gamma=0.9)


# --- bad input ----------------------------------------------------------------


def _raises(exc, arg, fn, *a, **k):
    with pytest.raises(exc) as e:
        fn(*a, **k)
    assert arg in str(e.value), f"{arg!r} not named in: {e.value}"


def test_bad_input_names_the_argument():
    r = np.zeros(6)
    m = np.ones((6, 3))
    _raises(ValueError, "group_size", A.grpo, r, group_size=4)
    _raises(ValueError, "group_size", A.grpo, r, group_size=0)
    _raises(ValueError, "group_size", A.grpo, r, group_size=-2)
    _raises(TypeError, "group_size", A.grpo, r, group_size=2.0)
    _raises(ValueError, "group_size", A.grpo, r)
    _raises(ValueError, "group_size", A.grpo, r, group_size=2, index=np.zeros(6, int))
    _raises(ValueError, "index", A.grpo, r, index=np.zeros(5, int))
    _raises(ValueError, "index", A.grpo, r, index=np.zeros((6, 1), int))
    _raises(TypeError, "index", A.grpo, r, index=[[1], [2], [3], [4], [5], [6]])
    _raises(TypeError, "rewards", A.grpo, np.array(["a"] * 6), group_size=2)
    _raises(TypeError, "rewards", A.grpo, np.zeros(6, complex), group_size=2)
    _raises(TypeError, "rewards", A.grpo, "abc", group_size=2)
    _raises(ValueError, "rewards", A.grpo, np.zeros((6, 1)), group_size=2)
    _raises(ValueError, "scale", A.grpo, r, group_size=2, scale="prompt")
    _raises(ValueError, "singleton", A.grpo, r, group_size=2, singleton="one")
    _raises(ValueError, "nan", A.rloo, r, group_size=2, nan="drop")
    _raises(ValueError, "equal_groups", A.rloo, r, group_size=2, equal_groups="x")
    _raises(ValueError, "compat", A.grpo, r, group_size=2, compat="openai")
    _raises(ValueError, "eps", A.grpo, r, group_size=2, eps=-1.0)
    _raises(ValueError, "eps", A.grpo, r, group_size=2, eps=float("nan"))
    _raises(ValueError, "f_norm", A.gpg, r, group_size=2, f_norm=0.0)
    _raises(ValueError, "group_size", A.grpo_passk, r, group_size=1)
    _raises(ValueError, "index", A.grpo_passk, r, index=[0, 0, 1, 1, 1, 2])
    _raises(ValueError, "response_lengths", A.opo, r, np.ones((6, 2)), group_size=2)
    _raises(ValueError, "lengths", A.opo, r, np.ones(5), group_size=2)
    _raises(ValueError, "response_mask", A.to_token_level, r, np.ones((5, 3)))
    _raises(ValueError, "response_mask", A.to_token_level, r, np.ones(6))
    _raises(TypeError, "response_mask", A.to_token_level, r, np.array([["a"] * 3] * 6))
    _raises(ValueError, "response_mask", A.masked_whiten, m, np.ones((6, 4)))
    _raises(ValueError, "response_mask", A.masked_whiten, m, np.zeros((6, 3)))
    one = np.zeros((6, 3))
    one[0, 0] = 1
    _raises(ValueError, "response_mask", A.masked_whiten, m, one)
    _raises(ValueError, "values", A.gae, m, np.ones((6, 4)), m)
    _raises(ValueError, "response_mask", A.gae, m, m, np.ones((6, 2)))
    _raises(ValueError, "compat", A.gae, m, m, m, compat="trl")
    _raises(ValueError, "response_mask", A.reinforce_pp, m, np.ones((5, 3)))
    _raises(ValueError, "reward_baselines", A.remax, m, np.ones(5), m)
    _raises(ValueError, "weights", combine_rewards, m, [1.0, 2.0])
    _raises(ValueError, "mode", combine_rewards, m, mode="mean")
    _raises(ValueError, "estimator", A.compute_advantages, "ppo", r, m, group_size=2)
    _raises(ValueError, "scale", A.compute_advantages, "dr_grpo", r, m, group_size=2, scale="group")


def test_core_rejects_what_the_wrappers_would_convert():
    """The binding itself: wrong dtypes and non-contiguous arrays are errors, never a panic."""
    r = np.zeros(8)
    seq = _core.compute_advantages  # without a response_mask: sequence level (B,)
    _raises(TypeError, "rewards", seq, "grpo", r.astype(np.int64), group_size=2)
    _raises(ValueError, "rewards", seq, "grpo", r[::2], group_size=2)
    _raises(TypeError, "index", seq, "grpo", r, index=np.zeros(8, np.int32))
    _raises(ValueError, "index", seq, "grpo", r, index=np.zeros(16, np.int64)[::2])
    _raises(ValueError, "estimator", seq, "ppo", r, group_size=2)
    _raises(ValueError, "estimator", seq, "reinforce_pp", r, group_size=2)
    _raises(TypeError, "lengths", seq, "opo", r, group_size=2, lengths=np.ones(8, np.float32))
    mask = np.ones((8, 3), np.uint8)
    _raises(ValueError, "lengths", seq, "opo", r, mask, group_size=2, lengths=np.ones(8))
    assert seq("grpo", r, group_size=2).shape == (8,)
    assert seq("grpo", r, mask, group_size=2).shape == (8, 3)
    m = np.ones((4, 2), np.uint8)
    v = np.zeros((4, 2))
    _raises(TypeError, "response_mask", _core.masked_whiten, v, m.astype(bool))
    _raises(ValueError, "values", _core.masked_whiten, np.zeros((4, 4))[:, ::2], m)
    _raises(TypeError, "values", _core.gae, v, v.astype(np.float32), m, 1.0, 1.0)
    _raises(TypeError, "advantages", _core.to_token_level, np.zeros(4, np.float16), m)


def test_non_contiguous_and_list_inputs_are_accepted_by_the_wrappers():
    r = np.arange(16, dtype=np.float64)[::2]
    close(A.grpo(r, group_size=4), A.grpo(np.ascontiguousarray(r), group_size=4))
    close(A.rloo([1.0, 2.0, 6.0], group_size=3), [-3.0, -1.5, 4.5])


def test_empty_batch():
    assert A.grpo(np.zeros(0), group_size=4).shape == (0,)
    assert A.rloo(np.zeros(0), index=np.zeros(0, np.int64)).shape == (0,)
    assert A.to_token_level(np.zeros(0), np.zeros((0, 5))).shape == (0, 5)
