"""Training-step throughput on the CPU: packed padding-free vs padded batches.

The tiny Qwen3-architecture model, one torch thread, real GSM8K text (char
tokenizer: 150–900 tokens per example, so padding wastes a lot), forward and
backward. Every variant of a group computes the same loss (checked here against
the padded reference; tests/test_train.py and tests/test_attention.py check
values and gradients); this measures the time. ``extra_info`` holds tokens/s
and the padded-slot fraction.

Groups:

- ``train-sft-packing``: one SFT step of 32 examples in micro-batches of at
  most 4,096 (or 1,024) token slots. ``packed`` runs with ``sdpa_varlen``
  (postcouple.attention: sdpa per sequence), ``packed-hf-sdpa`` with HF's sdpa
  (block-diagonal (T, T) mask over the whole row), ``padded`` in data order
  with an attention mask (what TRL's and HF Trainer's default collators do),
  ``padded-grouped`` sorted by length first (TRL's ``group_by_length``).
- ``train-rl-logprobs``: the policy forward and backward of an RL mini-batch
  (32 GSM8K prompts x 1 sample of 64 new tokens; prompts are left padded to the
  longest): padded (B, P+C) vs one packed row (``rl.packing``).
- ``train-rl-step``: one whole GRPO step on GSM8K prompts with the Rust math
  verifier; ``extra_info["core_share"]`` is the fraction of the step spent in
  the Rust core (reward scoring + advantages + packing of the step's sequences).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchutil import full

torch = pytest.importorskip("torch")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
DEV = torch.device("cpu")


def _gsm8k(n: int):
    if not DATA.exists():
        pytest.skip("../shared/data/gsm8k is absent")
    from postcouple.tasks.data import Gsm8kTask

    return Gsm8kTask(path=str(DATA), num_train=n, num_eval=1)


@pytest.fixture(scope="module")
def sft_setup():
    from postcouple.models import load_model_and_tokenizer
    from postcouple.train.sft import micro_batches, sft_loss_backward

    ex = _gsm8k(32 if full() else 4).train_examples()
    models = {
        attn: load_model_and_tokenizer("tiny", seed=0, attn_implementation=attn)
        for attn in ("sdpa_varlen", "sdpa")
    }
    model, tok = models["sdpa"]
    mbs = micro_batches(
        tok, ex, packing=False, capacity=4096, max_length=1024, device=DEV, group_by_length=False
    )
    ref, _ = sft_loss_backward(model, mbs)
    model.zero_grad(set_to_none=True)
    return models, ex, ref


SFT_VARIANTS = {
    "packed-4096": ("sdpa_varlen", dict(packing=True, capacity=4096)),
    "packed-1024": ("sdpa_varlen", dict(packing=True, capacity=1024)),
    "packed-4096-hf-sdpa": ("sdpa", dict(packing=True, capacity=4096)),
    "padded-4096": ("sdpa", dict(packing=False, capacity=4096, group_by_length=False)),
    "padded-grouped-4096": ("sdpa", dict(packing=False, capacity=4096, group_by_length=True)),
}


@pytest.mark.benchmark(group="train-sft-packing")
@pytest.mark.parametrize("variant", list(SFT_VARIANTS))
def test_sft_step(benchmark, sft_setup, variant):
    from postcouple.train.sft import micro_batches, sft_loss_backward

    models, ex, ref = sft_setup
    attn, kw = SFT_VARIANTS[variant]
    model, tok = models[attn]

    def step():
        model.zero_grad(set_to_none=True)
        mbs = micro_batches(tok, ex, max_length=1024, device=DEV, **kw)
        loss, ntok = sft_loss_backward(model, mbs)
        return mbs, loss, ntok

    mbs, loss, ntok = benchmark.pedantic(step, rounds=3 if full() else 1, iterations=1)
    assert loss == pytest.approx(ref, rel=1e-5)
    slots = sum(mb["input_ids"].numel() for mb in mbs)
    real = sum(
        int((mb.get("attention_mask", torch.ones_like(mb["input_ids"])) > 0).sum()) for mb in mbs
    )
    benchmark.extra_info["micro_batches"] = len(mbs)
    benchmark.extra_info["pad_fraction"] = 1 - real / slots
    if benchmark.stats:
        benchmark.extra_info["tokens_per_s"] = real / benchmark.stats.stats.median


@pytest.fixture(scope="module")
def rl_setup():
    from postcouple.models import load_model_and_tokenizer
    from postcouple.train.sampling import sample

    task = _gsm8k(32 if full() else 4)
    ex = task.train_examples()
    model, tok = load_model_and_tokenizer("tiny", seed=0)
    torch.manual_seed(0)
    ro = sample(model, tok, [e.prompt for e in ex], num_generations=1, max_new_tokens=64)
    return model, tok, task, ex, ro


@pytest.mark.benchmark(group="train-rl-logprobs")
@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_rl_logprobs(benchmark, rl_setup, packing):
    from postcouple.train.logprobs import sequence_logprobs

    model, _, _, _, ro = rl_setup
    m = ro.response_mask.bool()  # (B, C)

    def step():
        model.zero_grad(set_to_none=True)
        lp, ent = sequence_logprobs(model, ro, with_entropy=True, packing=packing)
        (lp * m).sum().backward()
        return lp

    lp = benchmark.pedantic(step, rounds=3 if full() else 1, iterations=1)
    with torch.no_grad():
        other, _ = sequence_logprobs(model, ro, packing=not packing)
    torch.testing.assert_close(lp[m], other[m], rtol=1e-5, atol=1e-5)
    real = int(ro.attention_mask.sum())
    benchmark.extra_info["pad_fraction"] = 1 - real / ro.attention_mask.numel()
    if benchmark.stats:
        benchmark.extra_info["tokens_per_s"] = real / benchmark.stats.stats.median


@pytest.mark.benchmark(group="train-rl-step")
@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_rl_step_core_share(benchmark, rl_setup, packing, monkeypatch):
    """A whole GRPO step (8 prompts x 4 samples, 64 new tokens) and the share of it
    spent in the Rust core: reward scoring, advantages, packing."""
    import postcouple.packing as P
    from postcouple.train.config import RLConfig
    from postcouple.train.rl import rl_step

    # time the step's own packing calls (the packed log-prob forward makes them)
    t_pack = [0.0]

    def timed(fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                t_pack[0] += time.perf_counter() - t0

        return wrapper

    monkeypatch.setattr(P, "pack", timed(P.pack))
    monkeypatch.setattr(P, "collate_packed", timed(P.collate_packed))

    model, tok, task, ex, _ = rl_setup
    cfg = RLConfig(
        num_prompts=8, num_generations=4, max_new_tokens=64, packing=packing, learning_rate=1e-4
    )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    prompts = ex[:8]

    def opt_step():
        opt.step()
        opt.zero_grad(set_to_none=True)

    def step():
        t_pack[0] = 0.0
        t0 = time.perf_counter()
        st = rl_step(model, None, tok, task, prompts, cfg, opt_step)
        return st, time.perf_counter() - t0, t_pack[0]

    st, total, packing_time = benchmark.pedantic(step, rounds=3 if full() else 1, iterations=1)
    assert (packing_time > 0) == packing
    core = st["time_reward"] + st["time_advantage"] + packing_time
    share = core / total
    benchmark.extra_info.update(
        time_generate=st["time_generate"],
        time_train=st["time_train"],
        time_reward=st["time_reward"],
        time_advantage=st["time_advantage"],
        time_packing=packing_time,
        core_share=share,
    )
    assert 0 < share < 1
    if full():  # the target (ARCHITECTURE.md, "Performance"): core work < 2% of an RL step
        assert share < 0.02, share
