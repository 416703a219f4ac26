"""postcouple.advantages against vectorised numpy and verl, side by side.

Full size (``make bench`` / ``POSTCOUPLE_BENCH_FULL=1``): GRPO and RLOO on 1M
sequences in groups of 8, GAE on 1M x 64 tokens, all float32, one thread
(``parallel=False``) unless the name says ``rayon``. verl is the real package
(``pip install --no-deps verl`` + light deps, see the Makefile; ray is stubbed
because the advantage functions never touch it); when it does not import, the
verl rows are skipped.
Every bench checks its result against the numpy reference.
"""

from __future__ import annotations

import numpy as np
import pytest

import postcouple.advantages as A
from benchutil import import_verl
from postcouple.reference import advantages as R

G = 8


def _verl():
    return import_verl("verl.trainer.ppo.core_algos")


VERL = _verl()


def _rewards(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    # binary correctness rewards plus a little shaping noise, as in RLVR
    return (rng.random(n) < 0.4).astype(np.float32) + 0.1 * rng.random(n, dtype=np.float32)


def _check_seq(out, want):
    np.testing.assert_allclose(np.asarray(out, dtype=np.float64), want, rtol=1e-3, atol=1e-3)


# --- GRPO and RLOO --------------------------------------------------------------

# each estimator's rows bench in its own group
_OUTCOME = [pytest.param(n, marks=pytest.mark.benchmark(group=n), id=n) for n in ("grpo", "rloo")]


@pytest.mark.parametrize("name", _OUTCOME)
@pytest.mark.parametrize("parallel", [False, True], ids=["1thread", "rayon"])
def test_postcouple(benchmark, bench_size, name, parallel):
    r = _rewards(bench_size(4096 * G, 1_000_000))
    out = benchmark(getattr(A, name), r, group_size=G, compat="verl", parallel=parallel)
    _check_seq(out, getattr(R, f"{name}_vectorized")(r.astype(np.float64), G))


@pytest.mark.parametrize("name", _OUTCOME)
def test_numpy_vectorized(benchmark, bench_size, name):
    ref = getattr(R, f"{name}_vectorized")
    r = _rewards(bench_size(4096 * G, 1_000_000))
    out = benchmark(ref, r, G)
    _check_seq(out, ref(r.astype(np.float64), G))


@pytest.mark.benchmark(group="grpo")
def test_grpo_postcouple_index(benchmark, bench_size):
    n = bench_size(4096 * G, 1_000_000)
    r = _rewards(n)
    idx = np.random.default_rng(1).permutation(n) // G  # shuffled ids: the bucketing path
    out = benchmark(A.grpo, r, index=idx, compat="verl", parallel=False)
    _check_seq(out, R.grpo_vectorized_index(r.astype(np.float64), idx))


@pytest.mark.benchmark(group="grpo")
def test_grpo_numpy_vectorized_index(benchmark, bench_size):
    n = bench_size(4096 * G, 1_000_000)
    r = _rewards(n)
    idx = np.random.default_rng(1).permutation(n) // G
    benchmark(R.grpo_vectorized_index, r, idx)


def _verl_inputs(r):
    import torch

    tok = torch.from_numpy(r).unsqueeze(-1)
    mask = torch.ones_like(tok)
    index = np.repeat(np.arange(len(r) // G), G)
    return tok, mask, index


@pytest.mark.skipif(VERL is None, reason="verl not importable")
@pytest.mark.parametrize("name", _OUTCOME)
def test_verl_vectorized(benchmark, bench_size, name):
    r = _rewards(bench_size(4096 * G, 1_000_000))
    tok, mask, index = _verl_inputs(r)
    fn = getattr(VERL, f"compute_{name}_vectorized_outcome_advantage")
    out, _ = benchmark(fn, tok, mask, index)
    _check_seq(out[:, 0].numpy(), getattr(R, f"{name}_vectorized")(r.astype(np.float64), G))


@pytest.mark.skipif(VERL is None, reason="verl not importable")
@pytest.mark.parametrize("name", _OUTCOME)
def test_verl_loop(benchmark, bench_size, bench_once, name):
    r = _rewards(bench_size(64 * G, 1_000_000))
    tok, mask, index = _verl_inputs(r)
    fn = getattr(VERL, f"compute_{name}_outcome_advantage")
    out, _ = bench_once(benchmark, fn, tok.clone(), mask, index)
    _check_seq(out[:, 0].numpy(), getattr(R, f"{name}_vectorized")(r.astype(np.float64), G))


# --- GAE ----------------------------------------------------------------------


def _gae_inputs(B, T=64):
    rng = np.random.default_rng(2)
    lens = rng.integers(T // 4, T + 1, size=B)
    mask = np.arange(T)[None, :] < lens[:, None]  # right-padded responses
    rewards = np.zeros((B, T), dtype=np.float32)
    rewards[np.arange(B), lens - 1] = rng.random(B, dtype=np.float32)
    rewards -= 0.01 * rng.random((B, T), dtype=np.float32) * mask  # a per-token KL penalty
    values = rng.normal(size=(B, T)).astype(np.float32)
    return rewards, values, mask


@pytest.mark.benchmark(group="gae")
@pytest.mark.parametrize("parallel", [False, True], ids=["1thread", "rayon"])
def test_gae_postcouple(benchmark, bench_size, parallel):
    r, v, m = _gae_inputs(bench_size(512, 1_000_000))
    adv, ret = benchmark(A.gae, r, v, m, gamma=1.0, lam=0.95, compat="verl", parallel=parallel)
    if len(r) <= 4096:  # the float64 reference loop is too slow at full size
        wa, wr = R.ref_gae(r[:64], v[:64], m[:64], 1.0, 0.95)
        np.testing.assert_allclose(ret[:64], wr, rtol=1e-4, atol=1e-4)
        whole = R.gae_vectorized(r.astype(np.float64), v.astype(np.float64), m, 1.0, 0.95)
        want = R.ref_masked_whiten(whole, m) * m
        np.testing.assert_allclose(adv, want, rtol=1e-3, atol=1e-3)


@pytest.mark.skipif(VERL is None, reason="verl not importable")
@pytest.mark.benchmark(group="gae")
def test_gae_verl(benchmark, bench_size, bench_once):
    torch = pytest.importorskip("torch")
    r, v, m = _gae_inputs(bench_size(512, 1_000_000))
    tr, tv, tm = torch.from_numpy(r), torch.from_numpy(v), torch.from_numpy(m.astype(np.float32))
    adv, ret = bench_once(benchmark, VERL.compute_gae_advantage_return, tr, tv, tm, 1.0, 0.95)
    ours, _ = A.gae(r, v, m, gamma=1.0, lam=0.95, compat="verl")
    np.testing.assert_allclose(adv.numpy()[m], ours[m], rtol=1e-3, atol=1e-3)


@pytest.mark.benchmark(group="gae")
def test_gae_numpy_vectorized(benchmark, bench_size, bench_once):
    r, v, m = _gae_inputs(bench_size(512, 1_000_000))
    bench_once(benchmark, R.gae_vectorized, r, v, m, np.float32(1.0), np.float32(0.95))
